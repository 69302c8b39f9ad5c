"""`python -m chime_scheduler preview ...`: the next occurrences of a spec, one per line.

    python -m chime_scheduler preview --tz Europe/Kyiv --start 2026-03-01T09:00:00 \\
        --rrule "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5"
    2026-03-02T09:00:00+02:00
    ...

Each line is an ISO 8601 local time with its UTC offset, computed by `chime_schedules`, the
code the scheduler fires by.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from chime_contracts.events.schedules import CronSpec, OnceSpec, PingsSpec, RRuleSpec
from chime_schedules import Spec, SpecError, local_instant, timetable, zone_of


def add_preview(commands: Any) -> None:
    """Add the `preview` command to a ServiceCli's subparsers."""
    parser = commands.add_parser(
        "preview",
        help="print a spec's next occurrences, one per line (ISO 8601 with the UTC offset)",
        description="Print the next occurrences of a schedule spec in a time zone.",
    )
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--rrule", help='an RFC 5545 RRULE, e.g. "FREQ=WEEKLY;BYDAY=MO,WE"')
    kind.add_argument("--cron", help='a 5-field cron expression, e.g. "30 8 * * 1-5"')
    kind.add_argument("--pings", type=int, metavar="N", help="N random pings a day")
    kind.add_argument("--at", type=_local, help="once, at this local time")
    parser.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    parser.add_argument(
        "--start", type=_local, help="local time: the RRULE's DTSTART, and where listing starts"
        " (default now)",
    )  # fmt: skip
    parser.add_argument("--count", type=int, default=10, help="how many (default 10)")
    parser.add_argument("--until", type=_local, help="local time: list none after it")
    parser.add_argument("--exdate", action="append", default=[], help="local times excluded")
    parser.add_argument("--rdate", action="append", default=[], help="local times added")
    parser.add_argument("--window", default="09:00-21:00", help="pings: local HH:MM-HH:MM")
    parser.add_argument("--spacing", type=int, default=0, help="pings: minimum minutes apart")
    parser.add_argument("--seed", type=int, default=0, help="pings: the seed of the draws")


def _local(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _times(values: list[str]) -> list[datetime]:
    return [_local(v.strip()) for value in values for v in value.split(",") if v.strip()]


def spec_of(args: argparse.Namespace) -> Spec:
    if args.rrule is not None:
        return RRuleSpec(
            rrule=args.rrule, starts_at=args.start,
            exdates=_times(args.exdate), rdates=_times(args.rdate),
        )  # fmt: skip
    if args.cron is not None:
        return CronSpec(expression=args.cron)
    if args.at is not None:
        return OnceSpec(at=args.at)
    opens, _, closes = args.window.partition("-")
    return PingsSpec(
        per_day=args.pings, window_start=time.fromisoformat(opens),
        window_end=time.fromisoformat(closes), min_spacing_minutes=args.spacing, seed=args.seed,
    )  # fmt: skip


def preview_lines(args: argparse.Namespace, now: datetime | None = None) -> list[str]:
    """The occurrences the command prints; SpecError (or ValueError) for a bad spec."""
    zone = zone_of(args.tz)
    table = timetable(spec_of(args), args.tz, anchor=now)
    start = args.start
    after = (
        (local_instant(start, zone) if start.tzinfo is None else start) - timedelta(microseconds=1)
        if start is not None
        else (now or datetime.now(UTC))
    )
    found = table.upcoming(after, args.count)
    if args.until is not None:
        last = local_instant(args.until, zone) if args.until.tzinfo is None else args.until
        found = [f for f in found if f <= last]
    return [f.isoformat() for f in found]


def run_preview(args: argparse.Namespace) -> int:
    try:
        lines = preview_lines(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 2
    except (SpecError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0
