"""Reminders as the scheduler sees them: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Reminder:
    id: str
    bot_id: int
    chat_id: int
    text: str
    due_at: datetime
    time_zone: str
    correlation_id: str
    traceparent: str | None


def delivery_id(reminder_id: str) -> str:
    """One delivery per reminder occurrence: the sender sends each id at most once."""
    return f"reminder:{reminder_id}"


def confirmation_text(text: str, due_at: datetime, time_zone: str, now: datetime) -> str:
    """The reply that tells the user what was understood, in their own zone."""
    local = due_at.astimezone(ZoneInfo(time_zone))
    today = now.astimezone(ZoneInfo(time_zone)).date()
    when = (
        local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%a %d %b %Y %H:%M")
    )
    return f"⏰ Got it. I'll remind you at {when} ({time_zone}): {text}"


def reminder_text(text: str) -> str:
    return f"⏰ {text}"
