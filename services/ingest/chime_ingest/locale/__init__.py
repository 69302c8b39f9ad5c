"""The languages ingest replies in: gettext catalogs kept as .po files beside this module.

English is the source language (the msgids). Each other language's `messages.po` is compiled
with Babel into an in-memory .mo the first time a reply needs it, so no compiled file is
kept in the repository and a catalog edit takes effect on the next start. Extract and update
the catalogs with the commands in docs/operations.md (pybabel, the repository's
`services/ingest/babel.cfg`).
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "uk")
_HERE = Path(__file__).parent


@cache
def translations(language: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    with (_HERE / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def supported(code: str | None) -> str | None:
    """The language we speak for Telegram's `language_code` (`uk`, `en-GB`), if any."""
    if not code:
        return None
    base = code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


@cache
def _names() -> dict[str, str]:
    """Every way to name a language we speak: its code and its name in each of them."""
    names: dict[str, str] = {}
    for language in LANGUAGES:
        names[language] = language
        for shown_in in LANGUAGES:
            shown = Locale.parse(language).get_display_name(shown_in) or language
            names[shown.lower()] = language
    return names


def language_named(text: str) -> str | None:
    """`/language uk`, `/language Ukrainian`, `/language українська` → `uk`."""
    wanted = text.strip().lower()
    return _names().get(wanted) or supported(wanted)


def display_name(language: str) -> str:
    """The language's own name for itself, capitalised: English, Українська."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


@dataclass(frozen=True)
class Texts:
    """One chat's language: translations and dates and times written as it writes them."""

    language: str

    def say(self, message: str, **fields: Any) -> str:
        return translations(self.language).gettext(message).format(**fields)

    def when(self, instant: datetime, time_zone: str) -> str:
        """`Fri 4 Dec 18:30` / `пт 4 груд. 18:30` in the chat's zone."""
        return format_datetime(
            instant, "EEE d MMM HH:mm", tzinfo=ZoneInfo(time_zone), locale=self.language
        )

    def clock(self, instant: datetime, time_zone: str) -> str:
        return format_time(instant, "HH:mm", tzinfo=ZoneInfo(time_zone), locale=self.language)
