"""Every event Chime publishes, grouped by the service that produces it."""

from chime_contracts.events.api import NotificationRequested
from chime_contracts.events.ingest import (
    ReminderRequested,
    TimeZoneSet,
    UpdateReceived,
    UserStarted,
)
from chime_contracts.events.scheduler import NotificationDue, ReminderScheduled
from chime_contracts.events.sender import ChatBlocked, MessageSent, SendFailed
from chime_contracts.events.shared import SendRequested

__all__ = [
    "ChatBlocked",
    "MessageSent",
    "NotificationDue",
    "NotificationRequested",
    "ReminderRequested",
    "ReminderScheduled",
    "SendFailed",
    "SendRequested",
    "TimeZoneSet",
    "UpdateReceived",
    "UserStarted",
]
