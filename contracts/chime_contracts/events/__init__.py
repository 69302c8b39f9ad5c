"""Every event Chime publishes, grouped by the service that produces it."""

from chime_contracts.events.api import NotificationRequested
from chime_contracts.events.ingest import (
    ChatMemberChanged,
    ChatMigrated,
    ChatResumed,
    ChatStopped,
    LanguageSet,
    MessageReceived,
    ReminderRequested,
    TimeZoneSet,
    UpdateReceived,
    UserStarted,
)
from chime_contracts.events.scheduler import NotificationDue, ReminderScheduled
from chime_contracts.events.schedules import (
    BroadcastCancelRequested,
    BroadcastRequested,
    ListingRequested,
    ScheduleChangeRequested,
    ScheduleRequested,
    SnoozeRequested,
    SubscriptionRequested,
)
from chime_contracts.events.sender import ChatBlocked, MessageSent, SendFailed
from chime_contracts.events.shared import (
    MessageDeleteRequested,
    MessageEditRequested,
    SendBatchRequested,
    SendRequested,
)

__all__ = [
    "BroadcastCancelRequested",
    "BroadcastRequested",
    "ChatBlocked",
    "ChatMemberChanged",
    "ChatMigrated",
    "ChatResumed",
    "ChatStopped",
    "LanguageSet",
    "ListingRequested",
    "MessageDeleteRequested",
    "MessageEditRequested",
    "MessageReceived",
    "MessageSent",
    "NotificationDue",
    "NotificationRequested",
    "ReminderRequested",
    "ReminderScheduled",
    "ScheduleChangeRequested",
    "ScheduleRequested",
    "SendBatchRequested",
    "SendFailed",
    "SendRequested",
    "SnoozeRequested",
    "SubscriptionRequested",
    "TimeZoneSet",
    "UpdateReceived",
    "UserStarted",
]
