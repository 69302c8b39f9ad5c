"""What a pressed inline button asks for, from its `callback_data` (at most 64 bytes).

- `snooze:<duration>` (`snooze:15m`, `snooze:1h`): the Snooze buttons under every reminder
  and occurrence the scheduler sends;
- `list:<schedules|topics>:<page>`: the page buttons under a `/list` or `/topics` answer;
- `lang:<code>`: the buttons of `/language`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from chime_ingest.domain.time_phrases import PhraseError, parse_duration
from chime_ingest.locale import LANGUAGES


@dataclass(frozen=True)
class Snooze:
    delay: timedelta


@dataclass(frozen=True)
class Page:
    what: Literal["schedules", "topics"]
    page: int


@dataclass(frozen=True)
class ChooseLanguage:
    language: str


Button = Snooze | Page | ChooseLanguage


def parse_button(data: str | None) -> Button | None:
    """None for data no Chime button carries (old, forged or another bot's)."""
    kind, _, rest = (data or "").partition(":")
    if kind == "snooze":
        try:
            return Snooze(parse_duration(rest))
        except PhraseError:
            return None
    if kind == "list":
        what, _, page = rest.partition(":")
        if what in ("schedules", "topics") and page.isascii() and page.isdigit():
            number = int(page)
            if 1 <= number <= 10_000:
                return Page("topics" if what == "topics" else "schedules", number)
        return None
    if kind == "lang" and rest in LANGUAGES:
        return ChooseLanguage(rest)
    return None
