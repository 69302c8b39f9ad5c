"""What the api does on each request and event. No web or broker framework imports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chime_api.adapters.postgres import (
    ApiKeyRepository,
    IdempotencyRepository,
    NotificationRepository,
)
from chime_api.domain.events import ApiKeyCreated, ApiKeyRevoked
from chime_api.domain.idempotency import (
    IdempotencyInFlightError,
    IdempotencyRecord,
    StoredResponse,
)
from chime_api.domain.keys import (
    ApiKey,
    InvalidKeyError,
    Scope,
    issue_key,
    parse_key,
    secret_matches,
)
from chime_api.domain.notifications import (
    Failure,
    Notification,
    ParseMode,
    Status,
    delivery_id,
    may_become,
    new_notification_id,
    notification_id_of,
)
from chime_contracts.envelope import Envelope
from chime_contracts.events import MessageSent, NotificationRequested, SendFailed, SendRequested
from chime_kit import event_store
from chime_kit.db import Connection
from chime_kit.unit_of_work import UnitOfWork

# --- API keys ---------------------------------------------------------------------------


async def create_api_key(
    uow: UnitOfWork, name: str, scopes: frozenset[Scope]
) -> tuple[ApiKey, str]:
    """Store a new key; returns it and the plaintext key, which exists nowhere else."""
    issued = issue_key()
    key = ApiKey(
        id=issued.id,
        name=name,
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        scopes=scopes,
        created_at=datetime.now(UTC),
    )
    await ApiKeyRepository(uow.conn).add(key)
    created = ApiKeyCreated(
        api_key_id=key.id,
        name=key.name,
        prefix=key.prefix,
        secret_hash=key.secret_hash,
        scopes=sorted(key.scopes),
        created_at=key.created_at,
    )
    await event_store.append(uow.conn, f"api-key-{key.id}", 0, [uow.wrap(created)])
    return key, issued.plaintext


async def revoke_api_key(uow: UnitOfWork, key_id: str) -> bool:
    """False when there is no such active key."""
    now = datetime.now(UTC)
    if not await ApiKeyRepository(uow.conn).revoke(key_id, now):
        return False
    stream = f"api-key-{key_id}"
    version = await event_store.current_version(uow.conn, stream)
    revoked = ApiKeyRevoked(api_key_id=key_id, revoked_at=now)
    await event_store.append(uow.conn, stream, version, [uow.wrap(revoked)])
    return True


async def list_api_keys(conn: Connection) -> list[ApiKey]:
    return await ApiKeyRepository(conn).all()


async def authenticate(conn: Connection, presented: str) -> ApiKey | None:
    """The active key a client presented, or None (malformed, unknown, wrong or revoked)."""
    try:
        key_id, secret = parse_key(presented)
    except InvalidKeyError:
        return None
    key = await ApiKeyRepository(conn).get(key_id)
    if key is None or not secret_matches(secret, key.secret_hash) or not key.active:
        return None
    return key


# --- notifications ----------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationRequest:
    chat_id: int
    bot_id: int
    text: str
    parse_mode: ParseMode | None


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Accepted:
    notification: Notification
    response: StoredResponse


@dataclass(frozen=True)
class Replayed:
    response: StoredResponse


@dataclass(frozen=True)
class KeyReused:
    """The Idempotency-Key was first used with a different request."""


Outcome = Accepted | Replayed | KeyReused


async def request_notification(
    uow: UnitOfWork,
    api_key: ApiKey,
    request: NotificationRequest,
    idempotency: Idempotency | None,
    *,
    idempotency_wait: float,
    render: Callable[[Notification], StoredResponse],
) -> Outcome:
    """Accept a notification once per Idempotency-Key: read model row, event, send request.

    `render(notification) -> StoredResponse` shapes the response that a retry replays; the
    stored response commits with the effect, so a replay always matches what happened.
    """
    records = IdempotencyRepository(uow.conn)
    if idempotency is not None:
        seen = await records.get(api_key.id, idempotency.key)
        if seen is None and not await records.claim(
            api_key.id, idempotency.key, idempotency.fingerprint, idempotency_wait
        ):
            # Another request committed this key while we waited on its row.
            seen = await records.get(api_key.id, idempotency.key)
            if seen is None:
                raise IdempotencyInFlightError(idempotency.key)
        if seen is not None:
            return _replay(seen, idempotency)

    notification = Notification(
        id=new_notification_id(),
        api_key_id=api_key.id,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        parse_mode=request.parse_mode,
        status=Status.ACCEPTED,
        created_at=datetime.now(UTC),
    )
    await NotificationRepository(uow.conn).add(notification)
    correlation_id = notification.id
    await uow.record(
        f"notification-{notification.id}",
        0,
        NotificationRequested(
            notification_id=notification.id,
            api_key_id=api_key.id,
            bot_id=request.bot_id,
            chat_id=request.chat_id,
            text=request.text,
            requested_at=notification.created_at,
        ),
        correlation_id=correlation_id,
    )
    await uow.emit(
        SendRequested(
            delivery_id=delivery_id(notification.id),
            bot_id=request.bot_id,
            chat_id=request.chat_id,
            text=request.text,
            parse_mode=request.parse_mode,
            origin="api",
        ),
        correlation_id=correlation_id,
    )
    response = render(notification)
    if idempotency is not None:
        await records.complete(api_key.id, idempotency.key, response)
    return Accepted(notification, response)


def _replay(seen: IdempotencyRecord, idempotency: Idempotency) -> Outcome:
    if seen.fingerprint != idempotency.fingerprint:
        return KeyReused()
    if seen.response is None:
        raise IdempotencyInFlightError(idempotency.key)
    return Replayed(seen.response)


async def get_notification(
    conn: Connection, api_key: ApiKey, notification_id: str
) -> Notification | None:
    """Only the key that asked for a notification sees it."""
    notification = await NotificationRepository(conn).get(notification_id)
    if notification is None or notification.api_key_id != api_key.id:
        return None
    return notification


async def list_notifications(
    conn: Connection, api_key: ApiKey, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[Notification], bool]:
    """A page, newest first, and whether more follow."""
    rows = await NotificationRepository(conn).page(api_key.id, limit + 1, after)
    return rows[:limit], len(rows) > limit


# --- the sender's outcomes --------------------------------------------------------------


async def record_message_sent(uow: UnitOfWork, envelope: Envelope[MessageSent]) -> None:
    sent = envelope.data
    notifications = NotificationRepository(uow.conn)
    current = await _ours(notifications, sent.delivery_id)
    if current is not None and may_become(current.status, Status.SENT):
        await notifications.mark_sent(current.id, sent.sent_at, sent.telegram_message_id)


async def record_send_failed(uow: UnitOfWork, envelope: Envelope[SendFailed]) -> None:
    failed = envelope.data
    notifications = NotificationRepository(uow.conn)
    current = await _ours(notifications, failed.delivery_id)
    outcome = Status.UNKNOWN if failed.outcome_unknown else Status.FAILED
    if current is not None and may_become(current.status, outcome):
        await notifications.mark_failed(
            current.id,
            outcome,
            Failure(
                reason=failed.reason,
                error_code=failed.error_code,
                description=failed.description,
                permanent=failed.permanent,
            ),
        )


async def _ours(notifications: NotificationRepository, delivery: str) -> Notification | None:
    notification_id = notification_id_of(delivery)
    if notification_id is None:
        return None
    return await notifications.get(notification_id, for_update=True)
