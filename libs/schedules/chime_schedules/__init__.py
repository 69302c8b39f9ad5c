"""Pure time maths of Chime's schedules: no I/O, shared by the scheduler, ingest and the api.

- `timetable(spec, time_zone, starts_on=, ends_on=, anchor=)` validates a once, cron, rrule
  or pings spec (the contracts' models) and returns a `Timetable`; a bad one raises
  `SpecError` whose message says what was wrong.
- `Timetable.next_after(instant)` is the next occurrence (UTC), `Timetable.upcoming(after,
  count)` the next few as local times (what a preview prints).
- `local_instant(wall, zone)` reads a wall time as RFC 5545 §3.3.5 does: a time in a gap
  moves forward by the gap, a repeated time is its first instance.
- `next_line(next_at, time_zone, language)` is "next: Mon 2 Mar 09:00" in English or
  Ukrainian; `when_text` the date part alone.
"""

from chime_schedules.errors import SpecError
from chime_schedules.human import language_of, next_line, when_text
from chime_schedules.local import local_instant, wall_time, zone_of
from chime_schedules.timetable import Spec, Timetable, timetable

__all__ = [
    "Spec",
    "SpecError",
    "Timetable",
    "language_of",
    "local_instant",
    "next_line",
    "timetable",
    "wall_time",
    "when_text",
    "zone_of",
]
