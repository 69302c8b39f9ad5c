"""Telegram's flood limits as pure rules over explicit times.

Per bot token: at most `token_rate` sends in any `token_window`, kept as one send slot every
`(token_window + margin) / token_rate` seconds. Per chat: a private chat (positive id) gets
one send per `chat_interval`; a group (negative id) at most `group_rate` sends in any
`group_window`. Both are computed here and stored in PostgreSQL (`bot_pacing`,
`chat_pacing`), so every replica sees them.

Paid broadcasts (`allow_paid_broadcast`, for a bot whose `paid_rate` is set) have a lane of
their own: Telegram lets a call with the flag through while the token's sends in the last
second number fewer than `paid_rate` (1,000), and a call without it while they number fewer
than `token_rate` (30), paid ones included. So a bot's paid slots are spaced for
`paid_rate - token_rate` (room for the free sends already in the window), never start before
its next free slot, and hold its free sends back until a window has passed since the last
paid one.

A call may start late for its slot, up to the slot's deadline (a busy process wakes late).
What keeps the token's rate exact whatever the lateness is the deadlines themselves, stored
with the bot's pace: a free slot never starts before the deadline of the slot `token_rate`
slots before it plus the window (and half the margin, the way to Telegram), so no window at
Telegram ever holds more than `token_rate` calls, however late each is within its deadline.
A slot's deadline is granted from the headroom it finds: a bot far below its rate gets up to
`late_max` (its next `token_rate` slots are far apart anyway), a bot at its rate half the
margin (the slots are then as dense as without any lateness, as before).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limits:
    token_rate: int = 30
    token_window: float = 1.0
    chat_interval: float = 1.0
    group_rate: int = 20
    group_window: float = 60.0
    # Requests reach Telegram a little after we time them; the slack keeps jitter under it.
    margin: float = 0.03
    # How far ahead a claim takes a bot's send slots; claimed calls wait at most this long.
    horizon: float = 0.25
    # How long a claim takes to reach its calls (commit, scheduling): no slot starts sooner
    # after the claim, so none is used late, bunched up with the slots after it.
    lead: float = 0.05
    # Sends per second with `allow_paid_broadcast` (Telegram: up to 1,000); 0 = not enabled.
    paid_rate: int = 0
    # How late a free call may start after its slot when its bot has the headroom (a bot at
    # its full rate gets half the margin): a later call is not made.
    late_max: float = 0.5

    @property
    def paid(self) -> bool:
        return self.paid_rate > self.token_rate


def is_group(chat_id: int) -> bool:
    return chat_id < 0


def slot_interval(limits: Limits) -> timedelta:
    """The spacing of one bot's sends: `token_rate` slots span `token_window + margin`.

    Rounded up to the microsecond (PostgreSQL's precision), so rounding never packs one more
    send into a window.
    """
    micros = (limits.token_window + limits.margin) / limits.token_rate * 1_000_000
    return timedelta(microseconds=math.ceil(micros - 1e-6))


def paid_slot_interval(limits: Limits) -> timedelta:
    """The spacing of one bot's paid sends: `paid_rate - token_rate` slots span the window
    and margin, so paid sends and the free ones still in a window stay under `paid_rate`."""
    if not limits.paid:
        raise ValueError("paid broadcasts are not enabled for this bot")
    per_second = limits.paid_rate - limits.token_rate
    micros = (limits.token_window + limits.margin) / per_second * 1_000_000
    return timedelta(microseconds=math.ceil(micros - 1e-6))


@dataclass(frozen=True)
class Lateness:
    """How late the calls of one lane may start after their slots.

    Every slot may be late by `least`; with `rate` set, a slot may be late by up to `most`
    where its lane has the headroom, and the lane's slots obey the rule that makes any
    lateness safe: slot n + `rate` starts no sooner than `span` after slot n's deadline.
    """

    least: timedelta
    most: timedelta
    rate: int = 0
    span: timedelta = timedelta(0)

    def bound(self, deadlines: Sequence[datetime]) -> datetime | None:
        """The earliest the next slot may start, given the lane's recent deadlines."""
        if self.rate <= 0 or len(deadlines) < self.rate:
            return None
        return deadlines[-self.rate] + self.span

    def allowed(self, start: datetime, bound: datetime | None) -> timedelta:
        """How late a slot starting at `start` may be: its headroom over `bound`, within
        [least, most]."""
        if bound is None:
            return self.most
        return min(self.most, max(self.least, start - bound))


STRICT = Lateness(timedelta(0), timedelta(0))


def free_lateness(limits: Limits) -> Lateness:
    """The free lane's: half the margin always, up to `late_max` with headroom; the other
    half of the margin is for the way to Telegram. A bot with paid broadcasting keeps half
    the margin: its paid slots start after its free calls' deadlines, which would otherwise
    hold a paid broadcast back by up to `late_max` each time the lanes take turns."""
    least = timedelta(seconds=limits.margin / 2)
    most = least if limits.paid else max(least, timedelta(seconds=limits.late_max))
    return Lateness(
        least,
        most,
        limits.token_rate,
        timedelta(seconds=limits.token_window) + least,
    )


def paid_lateness(limits: Limits) -> Lateness:
    """The paid lane's: half the margin (its slots are spaced with the margin in them)."""
    least = timedelta(seconds=limits.margin / 2)
    return Lateness(least, least)


@dataclass(frozen=True)
class BotPace:
    """What is stored per bot token: its next free slot, its next paid slot, the time before
    which no free send may start because paid ones are still in the window, and the deadlines
    of its last `token_rate` free slots (oldest first)."""

    next_slot_at: datetime
    next_paid_slot_at: datetime | None = None
    paid_clear_at: datetime | None = None
    deadlines: tuple[datetime, ...] = ()

    def free_from(self) -> datetime:
        """The earliest a free (unpaid) slot may start."""
        if self.paid_clear_at is None:
            return self.next_slot_at
        return max(self.next_slot_at, self.paid_clear_at)

    def paid_from(self) -> datetime:
        """The earliest a paid slot may start: never before the next free slot, so a paid
        send never lands in a window whose free sends were already counted as room."""
        if self.next_paid_slot_at is None:
            return self.next_slot_at
        return max(self.next_slot_at, self.next_paid_slot_at)


@dataclass(frozen=True)
class Grant:
    """The slots handed out to one claim of a bot's sends (and the latest each call may
    start), the bot's next free slot and its lane's recent deadlines after them."""

    starts: tuple[datetime, ...]
    next_slot_at: datetime
    deadlines: tuple[datetime, ...] = ()
    recent: tuple[datetime, ...] = ()


def grant_slots(
    next_slot_at: datetime,
    now: datetime,
    interval: timedelta,
    wanted: int,
    horizon: timedelta,
    late: Lateness = STRICT,
    recent: Sequence[datetime] = (),
) -> Grant:
    """Up to `wanted` send slots of a bot, GCRA-style with no burst beyond the rate.

    Slot i starts `interval` after slot i - 1 (the first at `max(next_slot_at, now)`), and
    never before `late.bound` of the deadlines before it; only slots starting by
    `now + horizon` are granted, so claimed work never waits long holding a lease. An idle
    bot does not save up slots: the first starts no earlier than `now`. Consecutive slots
    are `interval` apart, so any `token_window` holds at most `token_rate` of them; the bound
    keeps that true at Telegram for calls started as late as their deadlines.
    """
    last = now + horizon
    # A deadline more than `span + most` before now bounds no slot from now on, and leaves
    # every one its `most`: as if it had never been recorded. Dropped, so a bot far below its
    # rate stores (and reads) a few deadlines rather than `rate` of them.
    forgotten = now - late.span - late.most
    kept = [d for d in list(recent)[-late.rate :] if d > forgotten] if late.rate > 0 else []
    starts: list[datetime] = []
    deadlines: list[datetime] = []
    start = max(next_slot_at, now)
    while len(starts) < wanted:
        bound = late.bound(kept)
        if bound is not None:
            start = max(start, bound)
        if start > last:
            break
        deadline = start + late.allowed(start, bound)
        starts.append(start)
        deadlines.append(deadline)
        if late.rate > 0:
            kept = [*kept, deadline][-late.rate :]
        start += interval
    if not starts:
        return Grant((), next_slot_at, (), tuple(recent))
    bound = late.bound(kept)
    after = start if bound is None else max(start, bound)
    return Grant(tuple(starts), after, tuple(deadlines), tuple(kept))


@dataclass(frozen=True)
class LaneGrant:
    """A bot's free and paid slots from one claim (with the latest each call may start),
    and its pace after them."""

    free: tuple[datetime, ...]
    paid: tuple[datetime, ...]
    pace: BotPace
    free_deadlines: tuple[datetime, ...] = ()
    paid_deadlines: tuple[datetime, ...] = ()


def grant_lanes(
    pace: BotPace, now: datetime, limits: Limits, free: int, paid: int, horizon: timedelta
) -> LaneGrant:
    """Up to `free` unpaid and `paid` paid slots of one bot (free ones first).

    Paid slots start no sooner than the free ones granted, nor before the free calls' last
    deadline has passed (and half the margin: a late free call reaches Telegram before any
    paid one), and after the last paid slot the bot's free sends wait a whole window (and
    margin): Telegram counts the paid sends in the window against the free limit too.
    Without paid broadcasting enabled, `paid` is asked of the free lane's rate by the caller,
    never here.
    """
    interval = slot_interval(limits)
    free_late = free_lateness(limits)
    free_grant = grant_slots(
        pace.free_from(), now, interval, free, horizon, free_late, pace.deadlines
    )
    next_slot_at = free_grant.next_slot_at if free_grant.starts else pace.next_slot_at
    after = BotPace(next_slot_at, pace.next_paid_slot_at, pace.paid_clear_at, free_grant.recent)
    if paid <= 0 or not limits.paid:
        return LaneGrant(free_grant.starts, (), after, free_grant.deadlines)
    paid_from = after.paid_from()
    if after.deadlines:
        paid_from = max(paid_from, max(after.deadlines) + free_late.least)
    paid_late = paid_lateness(limits)
    paid_grant = grant_slots(paid_from, now, paid_slot_interval(limits), paid, horizon, paid_late)
    if not paid_grant.starts:
        return LaneGrant(free_grant.starts, (), after, free_grant.deadlines)
    window = timedelta(seconds=limits.token_window + limits.margin)
    return LaneGrant(
        free_grant.starts,
        paid_grant.starts,
        BotPace(
            next_slot_at, paid_grant.next_slot_at, paid_grant.starts[-1] + window, after.deadlines
        ),
        free_grant.deadlines,
        paid_grant.deadlines,
    )


def paused_pace(pace: BotPace, now: datetime, retry_after: float) -> BotPace:
    """A bot's pace after a 429: neither lane starts before `retry_after` from now (paid slots
    never start before the next free one)."""
    return BotPace(paused_slot(pace.next_slot_at, now, retry_after), pace.next_paid_slot_at,
                   pace.paid_clear_at, pace.deadlines)  # fmt: skip


def clock_skew(asked: datetime, db_now: datetime, answered: datetime) -> timedelta:
    """How far the database's clock is ahead of this process's, from one reading of it.

    The database read its clock somewhere between `asked` and `answered`; the middle is the
    best guess. Taking `answered` alone (as before) counted every delay in reading the answer
    (a busy event loop) as skew, so a claim read late sent all its slots that much late,
    bunched up with the next claim's on-time ones.
    """
    return db_now - (asked + (answered - asked) / 2)


def slot_wait(send_at: datetime, now: datetime) -> float:
    """Seconds still to wait for a slot starting at `send_at` (never negative).

    Callers loop on it: uvloop times a sleep from the loop's cached clock, so under load a
    sleep ends early by as long as the loop has been busy, and a call made then would open
    its slot early, packing more than `token_rate` sends into one window.
    """
    return max(0.0, (send_at - now).total_seconds())


def missed_slot(
    limits: Limits, slot_start: datetime, now: datetime, allowed: timedelta | None = None
) -> bool:
    """Whether a call is too late for its slot to use it.

    `allowed` is how late the slot's grant let it start (its deadline less its start); without
    one, half the margin: the other half is for the way to Telegram. A call later than that
    could bunch up with the calls `token_rate` slots later, so the slot is given up.
    """
    if allowed is None:
        allowed = timedelta(seconds=limits.margin / 2)
    return now - slot_start > allowed


def paused_slot(next_slot_at: datetime, now: datetime, retry_after: float) -> datetime:
    """A bot's next slot after a 429: not before `retry_after` from now, never brought forward."""
    return max(next_slot_at, now + timedelta(seconds=retry_after))


@dataclass(frozen=True)
class ChatPace:
    """What is stored per (bot, chat): when the next send may start and the recent sends."""

    next_send_at: datetime
    recent: tuple[datetime, ...] = ()


def after_send(
    limits: Limits, chat_id: int, recent: Sequence[datetime], done: datetime
) -> ChatPace:
    """The chat's pace after a send that finished at `done`.

    `done` is after Telegram received the message, so spacing from it never undercuts the
    limit, whatever the network did.
    """
    if not is_group(chat_id):
        return ChatPace(done + timedelta(seconds=limits.chat_interval))
    window = timedelta(seconds=limits.group_window)
    kept = (*(t for t in recent if done - t < window), done)
    kept = kept[-limits.group_rate :]
    if len(kept) < limits.group_rate:
        return ChatPace(done, kept)
    return ChatPace(kept[0] + window, kept)


def paused(pace: ChatPace, until: datetime) -> ChatPace:
    """The chat's pace when it must also wait until `until` (a 429, a retry's backoff)."""
    return ChatPace(max(pace.next_send_at, until), pace.recent)
