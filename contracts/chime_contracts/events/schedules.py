"""Requests to the scheduler, published by ingest (a chat's commands) and the api.

The scheduler owns schedules, topics and subscriptions; these events ask it to change them.
Each request carries the id it will be known by, so a redelivered request changes nothing
twice. What the scheduler decided comes back as its own events (`chime_contracts.events.
scheduler`) and, for a chat, as a confirmation message.
"""

from datetime import date, datetime, time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chime_contracts.envelope import Event
from chime_contracts.events.shared import InlineButton, Media, ParseMode


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, BaseModel):
        return any(_has_nul(v) for v in value.__dict__.values())
    return False


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="after")
    def _no_nul(self) -> "_Part":
        # PostgreSQL cannot store U+0000 in text or jsonb, and Telegram would not show it: a
        # request carrying one is refused here (422 at the api), never half-stored.
        if _has_nul(self):
            raise ValueError("text must not contain U+0000 (NUL)")
        return self


class ScheduleOwner(_Part):
    """Who may see and change a schedule: a chat (through its bot) or an API key."""

    kind: Literal["chat", "api_key"]
    id: str = Field(min_length=1, description="'<bot_id>:<chat_id>' for a chat, a key id")


class MessageTemplate(_Part):
    """What a schedule sends each time: text (a template when `variables` is given)."""

    text: str = Field(min_length=1)
    parse_mode: ParseMode | None = None
    variables: dict[str, str] | None = None
    buttons: list[list[InlineButton]] | None = None
    media: Media | None = None
    disable_notification: bool = False


class OnceSpec(_Part):
    """Fire once at a local wall time of the schedule's zone (RFC 5545 rules for gaps)."""

    kind: Literal["once"] = "once"
    at: datetime = Field(description="naive local time, or aware (then converted)")


class CronSpec(_Part):
    """A 5-field cron expression read in the schedule's zone."""

    kind: Literal["cron"] = "cron"
    expression: str = Field(min_length=9, max_length=200, examples=["30 8 * * 1-5"])


class RRuleSpec(_Part):
    """An RFC 5545 recurrence rule from `starts_at` (DTSTART) in the schedule's zone."""

    kind: Literal["rrule"] = "rrule"
    rrule: str = Field(min_length=6, max_length=1000, examples=["FREQ=WEEKLY;BYDAY=MO,WE"])
    starts_at: datetime | None = Field(
        default=None,
        description="DTSTART, a local time (naive) or aware; if absent, local midnight of"
        " the schedule's starts_on (else of the day it was requested)",
    )
    exdates: list[datetime] = Field(default_factory=list, description="local times excluded")
    rdates: list[datetime] = Field(default_factory=list, description="local times added")


class PingsSpec(_Part):
    """`per_day` random times a day inside a local window, drawn afresh each day."""

    kind: Literal["pings"] = "pings"
    per_day: int = Field(ge=1, le=100)
    window_start: time
    window_end: time
    min_spacing_minutes: int = Field(default=0, ge=0, le=1440)
    seed: int | None = Field(default=None, description="fixed for reproducible draws")


ScheduleSpec = Annotated[OnceSpec | CronSpec | RRuleSpec | PingsSpec, Field(discriminator="kind")]

MisfirePolicy = Literal["fire_late", "skip", "coalesce"]


class ScheduleRequested(Event):
    """Create a schedule: to a chat (`chat_id`) or, as a timed broadcast, to a topic."""

    type: Literal["schedule.requested.v1"] = "schedule.requested.v1"
    producer: ClassVar[str] = "ingest, api"

    schedule_id: str = Field(min_length=1, max_length=100, description="unique; stored once")
    owner: ScheduleOwner
    bot_id: int
    chat_id: int | None = Field(default=None, description="the target chat; or give topic")
    topic: str | None = Field(default=None, description="broadcast to a topic's subscribers")
    spec: ScheduleSpec
    time_zone: str = Field(description="IANA zone the spec is read in")
    starts_on: date | None = None
    ends_on: date | None = Field(default=None, description="inclusive, local date")
    message: MessageTemplate
    misfire: MisfirePolicy = "fire_late"
    misfire_grace_seconds: int = Field(default=300, ge=0)
    jitter_seconds: int = Field(default=0, ge=0, le=3600)
    phrase: str | None = Field(default=None, description="as the user wrote it, if a chat")
    language: str | None = Field(default=None, description="for the confirmation, e.g. 'uk'")
    requested_at: datetime


class ScheduleChangeRequested(Event):
    """Pause, resume, cancel or update a schedule its owner holds."""

    type: Literal["schedule.change.requested.v1"] = "schedule.change.requested.v1"
    producer: ClassVar[str] = "ingest, api"

    change_id: str = Field(min_length=1, max_length=100, description="unique per change")
    schedule_id: str
    owner: ScheduleOwner
    action: Literal["pause", "resume", "cancel", "update"]
    spec: ScheduleSpec | None = None
    time_zone: str | None = None
    message: MessageTemplate | None = None
    ends_on: date | None = None
    requested_at: datetime


class SubscriptionRequested(Event):
    """Subscribe a chat to a topic, or unsubscribe it; idempotent either way."""

    type: Literal["subscription.requested.v1"] = "subscription.requested.v1"
    producer: ClassVar[str] = "ingest, api"

    bot_id: int
    chat_id: int
    topic: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    action: Literal["subscribe", "unsubscribe"]
    requested_by: ScheduleOwner
    requested_at: datetime


class BroadcastRequested(Event):
    """Send one message to every current subscriber of a topic, now or at `at`."""

    type: Literal["broadcast.requested.v1"] = "broadcast.requested.v1"
    producer: ClassVar[str] = "api"

    broadcast_id: str = Field(min_length=1, max_length=100)
    owner: ScheduleOwner
    bot_id: int
    topic: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    message: MessageTemplate
    at: datetime | None = Field(default=None, description="aware time; None means now")
    paid_broadcast: bool = False
    requested_at: datetime


class BroadcastCancelRequested(Event):
    """Stop a broadcast: what was not yet handed to the sender is not sent."""

    type: Literal["broadcast.cancel.requested.v1"] = "broadcast.cancel.requested.v1"
    producer: ClassVar[str] = "api"

    broadcast_id: str
    owner: ScheduleOwner
    requested_at: datetime


class SnoozeRequested(Event):
    """A chat asked for a message it got to come again later (the Snooze button, /snooze)."""

    type: Literal["snooze.requested.v1"] = "snooze.requested.v1"
    producer: ClassVar[str] = "ingest"

    snooze_id: str = Field(min_length=1, max_length=100, description="unique per snooze")
    bot_id: int
    chat_id: int
    delivery_id: str | None = Field(default=None, description="the message snoozed, if known")
    text: str = Field(min_length=1)
    until: datetime
    time_zone: str
    language: str | None = None
    requested_at: datetime


class ListingRequested(Event):
    """A chat asked what it has (`/list`, `/topics`, or a page button under such a list).

    The scheduler owns the answer: it replies to the chat, or edits `edit_message_id` (the
    list message whose page button was pressed) to show `page`.
    """

    type: Literal["listing.requested.v1"] = "listing.requested.v1"
    producer: ClassVar[str] = "ingest"

    request_id: str = Field(min_length=1, max_length=100, description="unique per request")
    bot_id: int
    chat_id: int
    what: Literal["schedules", "topics"]
    page: int = Field(default=1, ge=1)
    reply_to_message_id: int | None = None
    edit_message_id: int | None = None
    time_zone: str
    language: str | None = None
    requested_at: datetime
