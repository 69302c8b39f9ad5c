"""The schedules the scheduler benches load: mixed kinds and zones, and a share of them due
in one short window."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import ScheduleRequested
from chime_contracts.events.schedules import (
    CronSpec,
    MessageTemplate,
    OnceSpec,
    PingsSpec,
    RRuleSpec,
    ScheduleOwner,
)

ZONES = [
    "Europe/Kyiv", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
    "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo", "Africa/Cairo", "UTC",
    "Pacific/Auckland", "Asia/Singapore",
]  # fmt: skip
BOTS = 100
MESSAGE = MessageTemplate(text="Time to drink water 💧")


def _request(n: int, spec: object, zone: str, now: datetime) -> Envelope[ScheduleRequested]:
    bot, chat = 1 + n % BOTS, 10_000_000 + n
    return envelope_of(
        ScheduleRequested(
            schedule_id=f"b{n}", owner=ScheduleOwner(kind="chat", id=f"{bot}:{chat}"),
            bot_id=bot, chat_id=chat, spec=spec, time_zone=zone, message=MESSAGE,  # type: ignore[arg-type]
            misfire="fire_late", requested_at=now,
        ),
        producer="bench",
    )  # fmt: skip


def background(first: int, count: int, now: datetime, seed: int = 1) -> Iterator[Envelope[Any]]:
    """Schedules that are live but not due in the bench's window: daily and weekday cron,
    weekly and monthly RRULEs, pings, and one-shots within the next 30 days."""
    rng = random.Random(seed + first)
    for n in range(first, first + count):
        zone = ZONES[n % len(ZONES)]
        pick = rng.random()
        minute, hour = rng.randrange(60), rng.randrange(24)
        if pick < 0.35:
            spec: object = CronSpec(expression=f"{minute} {hour} * * *")
        elif pick < 0.45:
            spec = CronSpec(expression=f"{minute} {hour} * * 1-5")
        elif pick < 0.60:
            day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[n % 7]
            spec = RRuleSpec(rrule=f"FREQ=WEEKLY;BYDAY={day};BYHOUR={hour};BYMINUTE={minute}")
        elif pick < 0.65:
            spec = RRuleSpec(rrule=f"FREQ=MONTHLY;BYMONTHDAY={1 + n % 28};BYHOUR={hour}")
        elif pick < 0.80:
            spec = PingsSpec(per_day=1 + n % 5, window_start=time(9), window_end=time(21),
                             min_spacing_minutes=30)  # fmt: skip
        else:
            spec = OnceSpec(at=now + timedelta(hours=1, seconds=rng.randrange(30 * 86400)))
        yield _request(n, spec, zone, now)


def due(first: int, count: int, at: datetime, window: float, now: datetime,
        seed: int = 2) -> Iterator[Envelope[Any]]:  # fmt: skip
    """Schedules whose next occurrence falls in [at, at + window): one-shots and daily
    RRULEs spread over it, daily cron lines at `at` itself (a whole minute)."""
    rng = random.Random(seed + first)
    for n in range(first, first + count):
        zone = ZONES[n % len(ZONES)]
        local = at.astimezone(ZoneInfo(zone))
        offset = timedelta(seconds=rng.random() * window)
        pick = rng.random()
        if pick < 0.4:
            spec: object = OnceSpec(at=(at + offset))
        elif pick < 0.7:
            spec = CronSpec(expression=f"{local.minute} {local.hour} * * *")
        else:
            starts = (local + offset).replace(tzinfo=None, microsecond=0)
            spec = RRuleSpec(rrule="FREQ=DAILY", starts_at=starts)
        yield _request(n, spec, zone, now)


def minute_after(moment: datetime) -> datetime:
    """The first whole minute after `moment` (cron fires on whole minutes)."""
    return (moment + timedelta(minutes=1)).replace(second=0, microsecond=0).astimezone(UTC)
