"""Time zones as users type them: `Europe/Kyiv`, `europe/kyiv`, `UTC`."""

from __future__ import annotations

import difflib
from functools import cache
from zoneinfo import available_timezones

from chime_ingest.domain.time_phrases import N_, PhraseError

HOW_TO = N_("Write it like /tz Europe/Berlin or /tz America/New_York (an IANA time zone name).")


class UnknownTimeZone(PhraseError):
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
    if close:
        raise UnknownTimeZone(
            N_("I don't know the time zone {zone}. Did you mean {zones}?"),
            HOW_TO,
            zone=repr(text.strip()),
            zones=", ".join(_by_lower_name()[c] for c in close),
        )
    raise UnknownTimeZone(N_("I don't know the time zone {zone}."), HOW_TO, zone=repr(text.strip()))
