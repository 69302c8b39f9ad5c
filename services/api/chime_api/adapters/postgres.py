"""The api's own tables: keys, the notifications read model, idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from chime_api.domain.idempotency import (
    IdempotencyInFlightError,
    IdempotencyRecord,
    StoredResponse,
)
from chime_api.domain.keys import ApiKey, Scope
from chime_api.domain.notifications import Failure, Notification, Status
from chime_kit.db import Connection

_KNOWN_SCOPES = {s.value for s in Scope}
_NOTIFICATION_COLUMNS = (
    "id, api_key_id, bot_id, chat_id, parse_mode, status, created_at, sent_at,"
    " telegram_message_id, failure"
)


class ApiKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, key: ApiKey) -> None:
        await self.conn.execute(
            "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            key.id,
            key.name,
            key.prefix,
            key.secret_hash,
            sorted(key.scopes),
            key.created_at,
        )

    async def get(self, key_id: str) -> ApiKey | None:
        row = await self.conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
        return _key(row) if row is not None else None

    async def all(self) -> list[ApiKey]:
        rows = await self.conn.fetch("SELECT * FROM api_keys ORDER BY created_at, id")
        return [_key(r) for r in rows]

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """False when there is no such active key."""
        status = await self.conn.execute(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            key_id,
            at,
        )
        return bool(status == "UPDATE 1")


class NotificationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, n: Notification) -> None:
        await self.conn.execute(
            "INSERT INTO notifications (id, api_key_id, bot_id, chat_id, parse_mode, status,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            n.id,
            n.api_key_id,
            n.bot_id,
            n.chat_id,
            n.parse_mode,
            n.status.value,
            n.created_at,
        )

    async def get(self, notification_id: str, *, for_update: bool = False) -> Notification | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1{lock}",  # noqa: S608
            notification_id,
        )
        return _notification(row) if row is not None else None

    async def page(
        self, api_key_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Notification]:
        """Newest first; `after` is the (created_at, id) of the previous page's last item."""
        if after is None:
            rows = await self.conn.fetch(
                f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE api_key_id = $1"  # noqa: S608
                " ORDER BY created_at DESC, id DESC LIMIT $2",
                api_key_id,
                limit,
            )
        else:
            rows = await self.conn.fetch(
                f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE api_key_id = $1"  # noqa: S608
                " AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT $2",
                api_key_id,
                limit,
                after[0],
                after[1],
            )
        return [_notification(r) for r in rows]

    async def mark_sent(self, notification_id: str, sent_at: datetime, message_id: int) -> None:
        await self.conn.execute(
            "UPDATE notifications SET status = 'sent', sent_at = $2, telegram_message_id = $3,"
            " failure = NULL, updated_at = now() WHERE id = $1",
            notification_id,
            sent_at,
            message_id,
        )

    async def mark_failed(self, notification_id: str, status: Status, failure: Failure) -> None:
        """Failed, or unknown: either way with the sender's reason."""
        await self.conn.execute(
            "UPDATE notifications SET status = $3, failure = $2, updated_at = now() WHERE id = $1",
            notification_id,
            {
                "reason": failure.reason,
                "error_code": failure.error_code,
                "description": failure.description,
                "permanent": failure.permanent,
            },
            status.value,
        )


class IdempotencyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, api_key_id: str, key: str) -> IdempotencyRecord | None:
        row = await self.conn.fetchrow(
            "SELECT fingerprint, response_status, response_body, response_headers"
            " FROM idempotency_keys WHERE api_key_id = $1 AND key = $2",
            api_key_id,
            key,
        )
        if row is None:
            return None
        response = None
        if row["response_status"] is not None:
            response = StoredResponse(
                status=row["response_status"],
                body=row["response_body"],
                headers=row["response_headers"] or {},
            )
        return IdempotencyRecord(fingerprint=row["fingerprint"], response=response)

    async def claim(self, api_key_id: str, key: str, fingerprint: str, wait: float) -> bool:
        """Insert the in-flight record; False if one exists (committed by another request).

        A concurrent request holding the same key makes this wait for its transaction, at
        most `wait` seconds, then IdempotencyInFlightError.
        """
        await self.conn.execute(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
        try:
            status = await self.conn.execute(
                "INSERT INTO idempotency_keys (api_key_id, key, fingerprint) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                api_key_id,
                key,
                fingerprint,
            )
        except asyncpg.LockNotAvailableError as exc:
            raise IdempotencyInFlightError(key) from exc
        await self.conn.execute("SET LOCAL lock_timeout = 0")
        return bool(status == "INSERT 0 1")

    async def complete(self, api_key_id: str, key: str, response: StoredResponse) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4,"
            " response_headers = $5 WHERE api_key_id = $1 AND key = $2",
            api_key_id,
            key,
            response.status,
            response.body,
            response.headers,
        )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        scopes=frozenset(Scope(s) for s in row["scopes"] if s in _KNOWN_SCOPES),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _notification(row: Any) -> Notification:
    failure = row["failure"]
    return Notification(
        id=row["id"],
        api_key_id=row["api_key_id"],
        bot_id=row["bot_id"],
        chat_id=row["chat_id"],
        parse_mode=row["parse_mode"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        telegram_message_id=row["telegram_message_id"],
        failure=Failure(**failure) if failure is not None else None,
    )
