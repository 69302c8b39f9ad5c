"""Every published event type, by name."""

from chime_contracts import events
from chime_contracts.envelope import Event

ALL_EVENTS: tuple[type[Event], ...] = (
    events.UpdateReceived,
    events.UserStarted,
    events.TimeZoneSet,
    events.LanguageSet,
    events.MessageReceived,
    events.ChatMemberChanged,
    events.ChatMigrated,
    events.ChatStopped,
    events.ChatResumed,
    events.ChatAssigned,
    events.ChatAssignmentConfirmed,
    events.ReminderRequested,
    events.ScheduleRequested,
    events.ScheduleChangeRequested,
    events.SubscriptionRequested,
    events.BroadcastRequested,
    events.BroadcastCancelRequested,
    events.SnoozeRequested,
    events.ListingRequested,
    events.ReminderScheduled,
    events.NotificationDue,
    events.ScheduleCreated,
    events.ScheduleRejected,
    events.ScheduleChanged,
    events.ScheduleFired,
    events.SubscriptionChanged,
    events.BroadcastStarted,
    events.BroadcastProgressed,
    events.BroadcastRecipientsSkipped,
    events.BroadcastFinished,
    events.NotificationRequested,
    events.SendRequested,
    events.SendBatchRequested,
    events.MessageEditRequested,
    events.MessageDeleteRequested,
    events.MessageSent,
    events.SendFailed,
    events.ChatBlocked,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {cls.type_name(): cls for cls in ALL_EVENTS}


def event_class(type_name: str) -> type[Event]:
    try:
        return EVENTS_BY_TYPE[type_name]
    except KeyError:
        raise KeyError(f"unknown event type {type_name!r}") from None
