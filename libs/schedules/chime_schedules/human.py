"""The line a person reads under a confirmation: "next: Mon 2 Mar 09:00", in their language.

The bot's confirmations and the api's preview share it, so both say the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime

# The words around the date, per language; the date itself is Babel's (CLDR's) for the locale.
_WORDS = {
    "en": ("next: {when}", "no more occurrences"),
    "uk": ("наступне: {when}", "більше не спрацює"),
}
DEFAULT_LANGUAGE = "en"


def language_of(language: str | None) -> str:
    """The supported language closest to a request's ('uk-UA' is 'uk'); English otherwise."""
    base = (language or DEFAULT_LANGUAGE).replace("_", "-").split("-")[0].lower()
    return base if base in _WORDS else DEFAULT_LANGUAGE


def when_text(
    at: datetime, time_zone: str, language: str | None, now: datetime | None = None
) -> str:
    """`at` in the zone as "Mon 2 Mar 09:00"; the year is added when it is not this year's."""
    lang = language_of(language)
    zone = ZoneInfo(time_zone)
    local = at.astimezone(zone)
    this_year = (now or datetime.now(UTC)).astimezone(zone).year
    pattern = "EEE d MMM HH:mm" if local.year == this_year else "EEE d MMM y HH:mm"
    try:
        locale = Locale.parse(lang)
    except (UnknownLocaleError, ValueError):  # pragma: no cover - both languages are in CLDR
        locale = Locale.parse(DEFAULT_LANGUAGE)
    return format_datetime(local, pattern, tzinfo=zone, locale=locale)


def next_line(
    next_at: datetime | None, time_zone: str, language: str | None, now: datetime | None = None
) -> str:
    """The line under a confirmation, "next: Mon 2 Mar 09:00" (in Ukrainian the same words and
    date in Ukrainian), or the phrase for a schedule that will not fire again."""
    some, none = _WORDS[language_of(language)]
    if next_at is None:
        return none
    return some.format(when=when_text(next_at, time_zone, language, now))
