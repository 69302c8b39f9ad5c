"""Events published by the scheduler: time."""

from datetime import datetime
from typing import ClassVar, Literal

from chime_contracts.envelope import Event


class ReminderScheduled(Event):
    """A requested reminder is stored and will fire at `due_at`."""

    type: Literal["reminder.scheduled.v1"] = "reminder.scheduled.v1"
    producer: ClassVar[str] = "scheduler"

    reminder_id: str
    bot_id: int
    chat_id: int
    due_at: datetime


class NotificationDue(Event):
    """A scheduled notification fired; the sender delivers it."""

    type: Literal["notification.due.v1"] = "notification.due.v1"
    producer: ClassVar[str] = "scheduler"

    delivery_id: str
    source: Literal["reminder"]
    source_id: str
    bot_id: int
    chat_id: int
    text: str
    due_at: datetime
    fired_at: datetime
