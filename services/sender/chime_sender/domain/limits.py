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
class BotPace:
    """What is stored per bot token: its next free slot, its next paid slot, and the time
    before which no free send may start because paid ones are still in the window."""

    next_slot_at: datetime
    next_paid_slot_at: datetime | None = None
    paid_clear_at: datetime | None = None

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
    """The slots handed out to one claim of a bot's sends, and the bot's next free slot."""

    starts: tuple[datetime, ...]
    next_slot_at: datetime


def grant_slots(
    next_slot_at: datetime, now: datetime, interval: timedelta, wanted: int, horizon: timedelta
) -> Grant:
    """Up to `wanted` send slots of a bot, GCRA-style with no burst beyond the rate.

    Slot i starts at `max(next_slot_at, now) + i * interval`; only slots starting by
    `now + horizon` are granted, so claimed work never waits long holding a lease. An idle
    bot does not save up slots: the first starts no earlier than `now`. Since consecutive
    slots are `interval` apart, any `token_window` holds at most `token_rate` of them.
    """
    first = max(next_slot_at, now)
    last = now + horizon
    starts: list[datetime] = []
    while len(starts) < wanted and (start := first + len(starts) * interval) <= last:
        starts.append(start)
    if not starts:
        return Grant((), next_slot_at)
    return Grant(tuple(starts), starts[-1] + interval)


@dataclass(frozen=True)
class LaneGrant:
    """A bot's free and paid slots from one claim, and its pace after them."""

    free: tuple[datetime, ...]
    paid: tuple[datetime, ...]
    pace: BotPace


def grant_lanes(
    pace: BotPace, now: datetime, limits: Limits, free: int, paid: int, horizon: timedelta
) -> LaneGrant:
    """Up to `free` unpaid and `paid` paid slots of one bot (free ones first).

    Paid slots start no sooner than the free ones granted, and after the last paid slot the
    bot's free sends wait a whole window (and margin): Telegram counts the paid sends in the
    window against the free limit too. Without paid broadcasting enabled, `paid` is asked of
    the free lane's rate by the caller, never here.
    """
    interval = slot_interval(limits)
    free_grant = grant_slots(pace.free_from(), now, interval, free, horizon)
    next_slot_at = free_grant.next_slot_at if free_grant.starts else pace.next_slot_at
    after = BotPace(next_slot_at, pace.next_paid_slot_at, pace.paid_clear_at)
    if paid <= 0 or not limits.paid:
        return LaneGrant(free_grant.starts, (), after)
    paid_grant = grant_slots(after.paid_from(), now, paid_slot_interval(limits), paid, horizon)
    if not paid_grant.starts:
        return LaneGrant(free_grant.starts, (), after)
    window = timedelta(seconds=limits.token_window + limits.margin)
    return LaneGrant(
        free_grant.starts,
        paid_grant.starts,
        BotPace(next_slot_at, paid_grant.next_slot_at, paid_grant.starts[-1] + window),
    )


def paused_pace(pace: BotPace, now: datetime, retry_after: float) -> BotPace:
    """A bot's pace after a 429: neither lane starts before `retry_after` from now (paid slots
    never start before the next free one)."""
    return BotPace(paused_slot(pace.next_slot_at, now, retry_after), pace.next_paid_slot_at,
                   pace.paid_clear_at)  # fmt: skip


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


def missed_slot(limits: Limits, slot_start: datetime, now: datetime) -> bool:
    """Whether a call is too late for its slot to use it.

    A late call bunches up with the on-time ones `token_rate` slots later; the margin covers
    that, half for the wait in this process (a busy event loop) and half for the way to
    Telegram. Later than that, the slot is given up rather than sent in a burst.
    """
    return (now - slot_start).total_seconds() > limits.margin / 2


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
