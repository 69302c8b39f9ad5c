"""Notifications: accept one (its stream, the send request), follow the sender's outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ulid import ULID

from chime_api.domain.keys import ApiKey
from chime_api.domain.notifications import (
    NOTIFICATION,
    Notification,
    ParseMode,
    Status,
    delivery_id,
    edit,
    keep_outcome,
    new_notification_id,
    source_of,
    stream_of,
)
from chime_api.ports import Notifications
from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    MessageDeleteRequested,
    MessageEditRequested,
    MessageSent,
    NotificationRequested,
    SendFailed,
    SendRequested,
)
from chime_contracts.events.shared import InlineButton, Media
from chime_kit.event_store import Append
from chime_kit.streams import Work, decide


@dataclass(frozen=True)
class NotificationRequest:
    chat_id: int
    bot_id: int
    text: str
    parse_mode: ParseMode | None = None
    variables: dict[str, str] | None = None
    buttons: list[list[InlineButton]] | None = None
    media: Media | None = None
    disable_notification: bool = False
    protect_content: bool = False
    disable_link_preview: bool = False


async def request_notification(
    uow: Work, notifications: Notifications, api_key: ApiKey, request: NotificationRequest
) -> Notification:
    """Start the notification's stream (projected at once) and ask the sender for it."""
    nid = new_notification_id()
    requested = NotificationRequested(
        notification_id=nid,
        api_key_id=api_key.id,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        text=request.text,
        requested_at=datetime.now(UTC),
        parse_mode=request.parse_mode,
        team=api_key.team,
    )
    # A new id's stream is empty by construction: appended at version 0 without loading it
    # first (what `decide` would do, less a round trip that can only find nothing).
    envelope = uow.wrap(requested, nid)
    recorded = await uow.append([Append(stream_of(nid), 0, [envelope])])
    await uow.publish([envelope])
    await notifications.apply(recorded)
    await uow.emit(
        SendRequested(
            delivery_id=delivery_id(nid),
            bot_id=request.bot_id,
            chat_id=request.chat_id,
            text=request.text,
            parse_mode=request.parse_mode,
            origin="api",
            source=source_of(nid),
            variables=request.variables,
            buttons=request.buttons,
            media=request.media,
            disable_notification=request.disable_notification,
            protect_content=request.protect_content,
            disable_link_preview=request.disable_link_preview,
        ),
        correlation_id=nid,
    )
    return Notification(
        id=nid,
        api_key_id=api_key.id,
        owner=api_key.owner,
        bot_id=request.bot_id,
        chat_id=request.chat_id,
        parse_mode=request.parse_mode,
        status=Status.ACCEPTED,
        created_at=requested.requested_at,
    )


async def get_notification(
    notifications: Notifications, api_key: ApiKey, notification_id: str
) -> Notification | None:
    """Only the owner (the key, or its team) sees a notification."""
    return visible(api_key, await notifications.get(notification_id))


def visible(api_key: ApiKey, notification: Notification | None) -> Notification | None:
    """The notification if the key's owner (the key, or its team) may see it."""
    if notification is None or notification.owner != api_key.owner:
        return None
    return notification


async def list_notifications(
    notifications: Notifications,
    api_key: ApiKey,
    limit: int,
    after: tuple[datetime, str] | None,
    status: Status | None = None,
    chat_id: int | None = None,
) -> tuple[list[Notification], bool]:
    """A page, newest first, and whether more follow."""
    rows = await notifications.page(api_key.owner, limit + 1, after, status, chat_id)
    return page_of(rows, limit)


def page_of(rows: list[Notification], limit: int) -> tuple[list[Notification], bool]:
    """A page of `limit` from up to `limit + 1` rows read, and whether more follow."""
    return rows[:limit], len(rows) > limit


async def record_outcome(uow: Work, notifications: Notifications, envelope: Envelope[Any]) -> None:
    """The sender's outcome of one of our notifications joins its stream (if it changes it)."""
    outcome: MessageSent | SendFailed = envelope.data
    if outcome.source is None or outcome.source.kind != "notification":
        return  # bound to `.notification` only; an unbound one is not ours to keep
    await decide(
        uow,
        stream_of(outcome.source.id),
        NOTIFICATION,
        lambda state: keep_outcome(state, envelope),
        project=notifications.apply,
    )


async def edit_message(
    uow: Work,
    notifications: Notifications,
    api_key: ApiKey,
    notification_id: str,
    text: str | None,
    parse_mode: ParseMode | None,
    variables: dict[str, str] | None,
    buttons: list[list[InlineButton]] | None,
) -> bool:
    """False when the caller's owner has no such notification; NotEditableError unless sent."""
    if await get_notification(notifications, api_key, notification_id) is None:
        return False
    event = MessageEditRequested(
        edit_id=f"edt_{ULID()}", delivery_id=delivery_id(notification_id), text=text,
        parse_mode=parse_mode, variables=variables, buttons=buttons,
        source=source_of(notification_id),
    )  # fmt: skip
    await _on_message(uow, notifications, notification_id, event)
    return True


async def delete_message(
    uow: Work, notifications: Notifications, api_key: ApiKey, notification_id: str
) -> bool:
    if await get_notification(notifications, api_key, notification_id) is None:
        return False
    event = MessageDeleteRequested(
        delete_id=f"del_{ULID()}", delivery_id=delivery_id(notification_id),
        source=source_of(notification_id),
    )  # fmt: skip
    await _on_message(uow, notifications, notification_id, event)
    return True


async def _on_message(
    uow: Work, notifications: Notifications, notification_id: str, event: Event
) -> None:
    await decide(
        uow, stream_of(notification_id), NOTIFICATION, lambda state: edit(state, event),
        project=notifications.apply, correlation_id=notification_id,
    )  # fmt: skip
