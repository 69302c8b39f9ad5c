"""CPU per timetable of each kind the scale workload loads: built and asked its first
occurrence, as the bulk loader asks `chime_schedules` for every schedule it has not met.

Usage:
    uv run python bench/scheduler/timetables.py [--n 5000] [--repeat 3]

Builds `--n` schedules of each kind with `workload.background`'s specs (each distinct
where the workload's are: minute and hour drawn, a pings seed each, the request's day as
an RRULE's DTSTART), in its 12 zones, and times `timetable(spec, zone).next_after(now)`
for each: the first pass meets every spec and line afresh (what a load of many new specs
pays), the later ones (`--repeat`) find what the library keeps (what schedules sharing a
spec pay). Prints µs of process CPU per timetable, by kind, and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from chime_contracts.events.schedules import CronSpec, OnceSpec, PingsSpec, RRuleSpec
from chime_schedules import timetable, wall_time, zone_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import ZONES


def specs(kind: str, n: int, now: datetime) -> list[tuple[Any, str]]:
    rng = random.Random(kind)
    out: list[tuple[Any, str]] = []
    for i in range(n):
        zone = ZONES[i % len(ZONES)]
        minute, hour = rng.randrange(60), rng.randrange(24)
        spec: Any
        if kind == "daily cron":
            spec = CronSpec(expression=f"{minute} {hour} * * *")
        elif kind == "weekday cron":
            spec = CronSpec(expression=f"{minute} {hour} * * 1-5")
        elif kind in ("weekly rrule", "monthly rrule"):
            day = wall_time(now, zone_of(zone)).date()  # what `self_contained` fixes
            rule = (f"FREQ=WEEKLY;BYDAY={('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')[i % 7]};"
                    f"BYHOUR={hour};BYMINUTE={minute}") if kind == "weekly rrule" else (
                    f"FREQ=MONTHLY;BYMONTHDAY={1 + i % 28};BYHOUR={hour}")  # fmt: skip
            spec = RRuleSpec(rrule=rule, starts_at=datetime.combine(day, clock()))
        elif kind == "pings":
            spec = PingsSpec(per_day=1 + i % 5, window_start=clock(9), window_end=clock(21),
                             min_spacing_minutes=30, seed=zlib.crc32(f"b{i}".encode()))  # fmt: skip
        else:
            spec = OnceSpec(at=now + timedelta(hours=1, seconds=rng.randrange(30 * 86400)))
        out.append((spec, zone))
    return out


def main(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    kinds = ["daily cron", "weekday cron", "weekly rrule", "monthly rrule", "pings", "once"]
    for kind in kinds:
        made = specs(kind, args.n, now)
        passes = []
        for _ in range(1 + args.repeat):
            cpu = time.process_time()
            for spec, zone in made:
                timetable(spec, zone).next_after(now)
            passes.append(1e6 * (time.process_time() - cpu) / args.n)
        again = " ".join(f"{p:.0f}" for p in passes[1:])
        print(f"{kind:14} first {passes[0]:6.0f} µs, again {again} µs")
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=2)
    main(parser.parse_args())
