"""Every published event type, by name."""

from chime_contracts.envelope import Event
from chime_contracts.events import (
    ChatBlocked,
    MessageSent,
    NotificationDue,
    NotificationRequested,
    ReminderRequested,
    ReminderScheduled,
    SendFailed,
    SendRequested,
    TimeZoneSet,
    UpdateReceived,
    UserStarted,
)

ALL_EVENTS: tuple[type[Event], ...] = (
    UpdateReceived,
    UserStarted,
    TimeZoneSet,
    ReminderRequested,
    ReminderScheduled,
    NotificationDue,
    NotificationRequested,
    SendRequested,
    MessageSent,
    SendFailed,
    ChatBlocked,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.type_name(): cls for cls in ALL_EVENTS}


def event_class(type_name: str) -> type[Event]:
    try:
        return EVENTS_BY_TYPE[type_name]
    except KeyError:
        raise KeyError(f"unknown event type {type_name!r}") from None
