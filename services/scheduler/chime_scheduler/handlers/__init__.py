"""What the scheduler does on each event, and when time passes. No framework imports.

Handlers take the unit of work (`chime_kit.streams.Work`) and the scheduler's repositories
(`ports.Store`, or `ports.Reminders` for reminders); they cannot tell PostgreSQL from a fake.
"""

from chime_scheduler.handlers.chats import (
    chat_migrated,
    chat_resumed,
    chat_stopped,
    note_chat,
    time_zone_set,
)
from chime_scheduler.handlers.firing import (
    fire_due_schedules,
    hand_due_slices,
    start_due_broadcasts,
)
from chime_scheduler.handlers.reminders import (
    fire_due_reminders,
    schedule_reminder,
    schedule_snooze,
)
from chime_scheduler.handlers.schedules import answer_listing, change_schedule, request_schedule
from chime_scheduler.handlers.topics import (
    cancel_broadcast,
    count_failed,
    count_sent,
    request_broadcast,
    subscribe,
)

__all__ = [
    "answer_listing",
    "cancel_broadcast",
    "change_schedule",
    "chat_migrated",
    "chat_resumed",
    "chat_stopped",
    "count_failed",
    "count_sent",
    "fire_due_reminders",
    "fire_due_schedules",
    "hand_due_slices",
    "note_chat",
    "request_broadcast",
    "request_schedule",
    "schedule_reminder",
    "schedule_snooze",
    "start_due_broadcasts",
    "subscribe",
    "time_zone_set",
]
