"""Schedules, broadcasts and subscriptions the api asks the scheduler for: their ids, and
the state of each request stream that decisions are taken from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ulid import ULID

from chime_contracts.envelope import Envelope, Event
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRequested,
    BroadcastStarted,
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
    ScheduleRequested,
)
from chime_kit.streams import Aggregate

ScheduleStatus = Literal["requested", "active", "paused", "cancelled", "finished", "rejected"]
BroadcastStatus = Literal["requested", "running", "finished", "cancelled"]
# The scheduler's results the api keeps in its request streams (others' are not its own).
RESULTS = (
    ScheduleCreated,
    ScheduleRejected,
    ScheduleChanged,
    ScheduleFired,
    BroadcastStarted,
    BroadcastProgressed,
    BroadcastFinished,
)
Result = (
    ScheduleCreated
    | ScheduleRejected
    | ScheduleChanged
    | ScheduleFired
    | BroadcastStarted
    | BroadcastProgressed
    | BroadcastFinished
)
Action = Literal["pause", "resume", "cancel", "update"]
AFTER: dict[str, ScheduleStatus] = {"pause": "paused", "resume": "active", "cancel": "cancelled"}


class ClosedError(Exception):
    """The schedule or broadcast was cancelled: nothing more can change it."""


def new_schedule_id() -> str:
    return f"sch_{ULID()}"


def new_broadcast_id() -> str:
    return f"brd_{ULID()}"


def schedule_stream(schedule_id: str) -> str:
    return f"schedule-{schedule_id}"


def broadcast_stream(broadcast_id: str) -> str:
    return f"broadcast-{broadcast_id}"


def subscription_stream(owner: str, topic: str, bot_id: int, chat_id: int) -> str:
    return f"subscription-{owner}-{topic}-{bot_id}-{chat_id}"


@dataclass(frozen=True)
class RequestState:
    """A schedule's or broadcast's stream as the api knows it: who asked, where it stands."""

    exists: bool = False
    requested_by: str = ""  # the key id the scheduler knows as the owner
    status: str = "requested"


def _evolve(state: RequestState, event: Event) -> RequestState:
    if isinstance(event, ScheduleRequested | BroadcastRequested):
        return RequestState(exists=True, requested_by=event.owner.id)
    if isinstance(event, ScheduleChangeRequested) and event.action in AFTER:
        return replace(state, status=AFTER[event.action])
    if isinstance(event, BroadcastCancelRequested):
        return replace(state, status="cancelled")
    if isinstance(event, ScheduleChanged):
        return replace(state, status=event.status)
    if isinstance(event, ScheduleRejected) and event.action == "create":
        return replace(state, status="rejected")
    if isinstance(event, BroadcastFinished) and event.cancelled:
        return replace(state, status="cancelled")
    return state


def stream_of_result(result: Result) -> str:
    """The api's request stream a scheduler result belongs to (if it is the api's at all)."""
    if isinstance(result, ScheduleRejected):
        return schedule_stream(result.schedule_ref)
    if isinstance(result, ScheduleCreated | ScheduleChanged | ScheduleFired):
        return schedule_stream(result.schedule_id)
    return broadcast_stream(result.broadcast_id)


def keep_result(state: RequestState, envelope: Envelope[Any]) -> Sequence[Envelope[Any]]:
    """A result joins the stream as it came, when the stream is one of the api's requests."""
    return [envelope] if state.exists else []


REQUEST = Aggregate(RequestState(), _evolve)


def change(state: RequestState, action: Action, event: Event) -> Sequence[Event]:
    """The change to record: none if it changes nothing (pause a paused schedule)."""
    if state.status in ("cancelled", "finished", "rejected"):
        if action == "cancel":
            return []
        raise ClosedError
    if AFTER.get(action) == state.status:
        return []
    return [event]
