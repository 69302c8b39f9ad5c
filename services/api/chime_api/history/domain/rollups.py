"""What a batch of new rows adds to the rollups: counters per scope and bucket, and the
members (chats, users) each bucket saw. Pure, so forgetting a chat subtracts exactly what
applying its facts added."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from chime_api.history.domain import latency
from chime_api.history.domain.buckets import Granularity, floor
from chime_api.history.domain.facts import (
    Blocked,
    Fact,
    Outcome,
    Received,
    TextJoined,
    chat_key,
)

# (scope, scope id, granularity, bucket)
Key = tuple[str, str, str, datetime]


@dataclass
class Counters:
    received: int = 0
    received_by_kind: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    failed: int = 0
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    blocked: int = 0
    latency: list[int] = field(default_factory=latency.empty)

    def negated(self) -> Counters:
        return Counters(
            -self.received,
            Counter({k: -v for k, v in self.received_by_kind.items()}),
            -self.sent,
            -self.failed,
            Counter({k: -v for k, v in self.failed_by_reason.items()}),
            -self.blocked,
            [-n for n in self.latency],
        )


@dataclass
class Deltas:
    counters: dict[Key, Counters] = field(default_factory=lambda: defaultdict(Counters))
    # (key, member) -> messages received from that member there (0 for a chat's presence)
    members: Counter[tuple[Key, str]] = field(default_factory=Counter)


def scopes_of(fact: Fact) -> list[tuple[str, str]]:
    scopes = [
        ("global", ""),
        ("bot", str(fact.bot_id)),
        ("chat", chat_key(fact.bot_id, fact.chat_id)),
    ]
    if isinstance(fact, Outcome | TextJoined) and fact.api_key_id is not None:
        scopes.append(("key", fact.api_key_id))
    return scopes


def deltas_of(facts: Iterable[Fact]) -> Deltas:
    """What `facts` add to the rollups: each that created a row, each block, each late
    joined latency."""
    deltas = Deltas()
    for fact in facts:
        for granularity in Granularity:
            bucket = floor(fact.at, granularity)
            for scope, scope_id in scopes_of(fact):
                key = (scope, scope_id, granularity.value, bucket)
                _count(deltas.counters[key], fact)
                if isinstance(fact, Received) and scope != "key":
                    _members(deltas, key, scope, fact)
    return deltas


def _count(counters: Counters, fact: Fact) -> None:
    if isinstance(fact, Received):
        counters.received += 1
        counters.received_by_kind[fact.content_type] += 1
    elif isinstance(fact, Outcome) and fact.kind == "sent":
        counters.sent += 1
        if fact.latency_ms is not None:
            counters.latency[latency.bucket_of(fact.latency_ms)] += 1
    elif isinstance(fact, Outcome):
        counters.failed += 1
        counters.failed_by_reason[fact.reason or "unknown"] += 1
    elif isinstance(fact, Blocked):
        counters.blocked += 1
    elif isinstance(fact, TextJoined) and fact.latency_ms is not None:
        counters.latency[latency.bucket_of(fact.latency_ms)] += 1


def _members(deltas: Deltas, key: Key, scope: str, fact: Received) -> None:
    """A chat's users (with counts); the chats and users of a bot and of the whole."""
    if fact.user_id is not None:
        deltas.members[(key, f"u{fact.user_id}")] += 1
    if scope != "chat":
        deltas.members[(key, f"c{chat_key(fact.bot_id, fact.chat_id)}")] += 1
