"""Subscriptions: one small stream per chat and topic (`subscription-<bot>:<topic>:<chat>`),
so subscribing never loads a topic's whole history; idempotent both ways."""

from __future__ import annotations

from datetime import datetime

from chime_contracts.envelope import Event
from chime_contracts.events import SubscriptionChanged
from chime_kit.streams import Aggregate


def evolve(subscribed: bool, event: Event) -> bool:
    return event.subscribed if isinstance(event, SubscriptionChanged) else subscribed


SUBSCRIPTION = Aggregate(False, evolve)


def stream_id(bot_id: int, topic: str, chat_id: int) -> str:
    return f"subscription-{bot_id}:{topic}:{chat_id}"


def set_to(
    subscribed: bool, bot_id: int, chat_id: int, topic: str, want: bool, now: datetime
) -> list[Event]:
    if subscribed == want:
        return []
    return [SubscriptionChanged(
        bot_id=bot_id, chat_id=chat_id, topic=topic, subscribed=want, changed_at=now
    )]  # fmt: skip
