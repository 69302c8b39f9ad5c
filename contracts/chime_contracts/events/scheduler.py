"""Events published by the scheduler: time."""

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event
from chime_contracts.events.schedules import (
    MessageTemplate,
    MisfirePolicy,
    ScheduleOwner,
    ScheduleSpec,
)


class ReminderScheduled(Event):
    """A requested reminder is stored and will fire at `due_at`; recorded again, with the
    chat's new `time_zone`, when a time-zone change moves it (the wall time kept)."""

    type: Literal["reminder.scheduled.v1"] = "reminder.scheduled.v1"
    producer: ClassVar[str] = "scheduler"

    reminder_id: str
    bot_id: int
    chat_id: int
    due_at: datetime
    time_zone: str | None = Field(default=None, description="set when a zone change moved it")


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


ScheduleStatus = Literal["active", "paused", "cancelled", "finished"]


class ScheduleCreated(Event):
    """A requested schedule is stored: its spec made self-contained (an RRULE's DTSTART and
    a pings seed fixed), its short per-owner number (`#12`), and its first occurrence."""

    type: Literal["schedule.created.v1"] = "schedule.created.v1"
    producer: ClassVar[str] = "scheduler"

    schedule_id: str
    number: int = Field(description="short per-owner number users see and type, as #12")
    owner: ScheduleOwner
    bot_id: int
    chat_id: int | None = None
    topic: str | None = None
    spec: ScheduleSpec
    time_zone: str
    starts_on: date | None = None
    ends_on: date | None = None
    message: MessageTemplate
    misfire: MisfirePolicy
    misfire_grace_seconds: int
    jitter_seconds: int
    language: str | None = None
    next_at: datetime | None = Field(description="the first occurrence (UTC); None: none")
    fire_at: datetime | None = Field(description="next_at plus the schedule's jitter")


class ScheduleRejected(Event):
    """A schedule request or change was refused; `reason` says why, for people."""

    type: Literal["schedule.rejected.v1"] = "schedule.rejected.v1"
    producer: ClassVar[str] = "scheduler"

    request_id: str = Field(description="the schedule_id or change_id of the request")
    schedule_ref: str = Field(description="the schedule as the request named it")
    owner: ScheduleOwner
    action: Literal["create", "pause", "resume", "cancel", "update"]
    reason: str


class ScheduleChanged(Event):
    """A schedule changed: by its owner (pause, resume, cancel, update), by its chat (/stop,
    /start, a new time zone, a migration to a supergroup), by running out, or by its misfire
    policy (`skipped`: occurrences missed during an outage were dropped, none fired)."""

    type: Literal["schedule.changed.v1"] = "schedule.changed.v1"
    producer: ClassVar[str] = "scheduler"

    schedule_id: str
    change_id: str
    action: Literal[
        "paused", "resumed", "cancelled", "updated", "moved", "migrated", "finished", "skipped"
    ]
    by: Literal["owner", "chat_stopped", "chat_resumed", "time_zone", "migration", "end", "misfire"]
    status: ScheduleStatus
    spec: ScheduleSpec | None = None
    time_zone: str | None = None
    message: MessageTemplate | None = None
    ends_on: date | None = None
    chat_id: int | None = Field(default=None, description="the new chat after a migration")
    owner: ScheduleOwner | None = Field(default=None, description="the new owner, likewise")
    next_at: datetime | None = None
    fire_at: datetime | None = None


class ScheduleFired(Event):
    """An occurrence (schedule, scheduled instant) fired: recorded once in the schedule's
    stream. The message itself goes out as `send.requested.v1` (source kind `schedule`) or,
    for a topic, as a broadcast; `missed` counts the occurrences the misfire policy dropped
    since the last one."""

    type: Literal["schedule.fired.v1"] = "schedule.fired.v1"
    producer: ClassVar[str] = "scheduler"

    schedule_id: str
    occurrence: datetime = Field(description="the scheduled instant, the occurrence's identity")
    fired_at: datetime
    delivery_id: str = Field(description="the send's delivery id, or the broadcast id")
    missed: int = 0
    next_at: datetime | None
    fire_at: datetime | None


class SubscriptionChanged(Event):
    """A chat subscribed to a topic or unsubscribed (each recorded only when it changes)."""

    type: Literal["subscription.changed.v1"] = "subscription.changed.v1"
    producer: ClassVar[str] = "scheduler"

    bot_id: int
    chat_id: int
    topic: str
    subscribed: bool
    changed_at: datetime


class BroadcastStarted(Event):
    """A broadcast reached its time: its recipients are the topic's subscribers then, less
    the chats that blocked the bot or stopped (`skipped`), handed to the sender in slices."""

    type: Literal["broadcast.started.v1"] = "broadcast.started.v1"
    producer: ClassVar[str] = "scheduler"

    broadcast_id: str
    owner: ScheduleOwner
    bot_id: int
    topic: str
    schedule_id: str | None = Field(default=None, description="the schedule that fired it")
    recipients: int
    skipped: int
    slices: int
    started_at: datetime
    estimated_finish_at: datetime = Field(description="from Telegram's limits per bot")


SkipReason = Literal["blocked", "stopped"]


class BroadcastRecipientsSkipped(Event):
    """Subscribers a starting broadcast leaves out, named: published with
    `broadcast.started.v1` (which counts them), in slices of at most 5,000 chats, each slice
    of one reason. `blocked`: the chat blocked the bot or removed it (also when it stopped);
    `stopped`: the chat sent /stop. `slice_id` (`<broadcast>:skipped:<n>`) is unique."""

    type: Literal["broadcast.recipients.skipped.v1"] = "broadcast.recipients.skipped.v1"
    producer: ClassVar[str] = "scheduler"

    slice_id: str = Field(min_length=1, max_length=150, description="unique per slice")
    broadcast_id: str
    bot_id: int
    reason: SkipReason
    chat_ids: list[int] = Field(min_length=1, max_length=5000)
    skipped_at: datetime


class BroadcastProgressed(Event):
    """How far a broadcast got: handed to the sender, sent, failed (running totals)."""

    type: Literal["broadcast.progress.v1"] = "broadcast.progress.v1"
    producer: ClassVar[str] = "scheduler"

    broadcast_id: str
    handed: int
    sent: int
    failed: int
    skipped: int
    estimated_finish_at: datetime | None = None


class BroadcastFinished(Event):
    """A broadcast is over: every handed message has an outcome, or it was cancelled."""

    type: Literal["broadcast.finished.v1"] = "broadcast.finished.v1"
    producer: ClassVar[str] = "scheduler"

    broadcast_id: str
    handed: int
    sent: int
    failed: int
    skipped: int
    cancelled: bool = False
    finished_at: datetime
