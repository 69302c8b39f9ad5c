"""Time zones as users type them: `Europe/Kyiv`, `europe/kyiv`, `UTC`."""

from __future__ import annotations

import difflib
from functools import cache
from zoneinfo import available_timezones

HOW_TO = "Write it like /tz Europe/Berlin or /tz America/New_York (an IANA time zone name)."


class UnknownTimeZone(ValueError):
    """The name is no IANA time zone; the message suggests what was perhaps meant."""


@cache
def _by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def resolve_time_zone(text: str) -> str:
    """The canonical IANA name for what the user wrote, matched without regard to case."""
    wanted = text.strip().replace(" ", "_")
    if not wanted:
        raise UnknownTimeZone(HOW_TO)
    found = _by_lower_name().get(wanted.lower())
    if found is not None:
        return found
    close = difflib.get_close_matches(wanted.lower(), _by_lower_name(), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(_by_lower_name()[c] for c in close)}?" if close else ""
    raise UnknownTimeZone(f"I don't know the time zone {text.strip()!r}.{hint}\n{HOW_TO}")
