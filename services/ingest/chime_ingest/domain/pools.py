"""Bot pools (seed 000's router bot): pure rules, no I/O.

A pool is a front bot that people find and /start, and worker bots that serve them. A new
private chat that starts the front bot is assigned the least-loaded worker and handed a deep
link to it (`https://t.me/<worker>?start=<payload>`); from then on it is served by that
worker. The assignment is decided on the stream `assignment-<pool>-<chat>`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from chime_contracts.envelope import Event
from chime_contracts.events import ChatAssigned, ChatAssignmentConfirmed
from chime_kit.streams import Aggregate

POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,15}$")
PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PAYLOAD_PREFIX = "a1"  # the payload's version: a later format can be told apart


@dataclass(frozen=True)
class Pool:
    name: str
    front: int
    workers: tuple[int, ...]
    weights: Mapping[int, float] = field(default_factory=dict)

    def weight(self, bot_id: int) -> float:
        return self.weights.get(bot_id, 1.0)

    @property
    def bots(self) -> tuple[int, ...]:
        return (self.front, *self.workers)


@dataclass(frozen=True)
class Pools:
    """Every configured pool; a bot belongs to at most one (checked by the settings)."""

    pools: tuple[Pool, ...] = ()

    def of_bot(self, bot_id: int) -> Pool | None:
        for pool in self.pools:
            if bot_id in pool.bots:
                return pool
        return None

    def named(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)


NO_POOLS = Pools()


def pools_problems(pools: Sequence[Pool], known_bots: Sequence[int]) -> list[str]:
    """What is wrong with a pool configuration, each said so that it can be fixed."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    known = set(known_bots)
    for pool in pools:
        if not POOL_NAME.match(pool.name):
            problems.append(
                f"pool {pool.name!r}: a name is 1-16 of a-z, 0-9, _ and -, starting with a"
                " letter or digit"
            )
        if not pool.workers:
            problems.append(f"pool {pool.name!r}: it needs at least one worker bot")
        if len(set(pool.workers)) != len(pool.workers):
            problems.append(f"pool {pool.name!r}: a worker bot is listed twice")
        if pool.front in pool.workers:
            problems.append(f"pool {pool.name!r}: the front bot {pool.front} is also a worker")
        for bot, weight in pool.weights.items():
            if bot not in pool.workers:
                problems.append(f"pool {pool.name!r}: weight for {bot}, which is no worker")
            elif not weight > 0:
                problems.append(f"pool {pool.name!r}: the weight of {bot} must be above 0")
        for bot in dict.fromkeys(pool.bots):
            if bot in seen and seen[bot] != pool.name:
                problems.append(f"bot {bot} is in two pools, {seen[bot]!r} and {pool.name!r}")
            seen.setdefault(bot, pool.name)
            if bot not in known:
                problems.append(
                    f"pool {pool.name!r}: bot {bot} has no token in CHIME_INGEST_BOT_TOKENS"
                )
    names = [p.name for p in pools]
    if len(set(names)) != len(names):
        problems.append("two pools have the same name")
    return problems


def choose_worker(pool: Pool, loads: Mapping[int, int], chat_id: int) -> int | None:
    """The least-loaded worker (chats assigned per unit of weight) among `loads`' keys, which
    are the workers that can be linked to; None when there is none.

    Ties go to one picked by the chat id, so replicas choosing at once for different chats
    (each before the other's commit) spread over the tied workers instead of piling onto one.
    """
    candidates = [w for w in pool.workers if w in loads]
    if not candidates:
        return None
    lowest = min(loads[w] / pool.weight(w) for w in candidates)
    tied = [w for w in candidates if loads[w] / pool.weight(w) == lowest]
    return tied[chat_id % len(tied)]


def encode_payload(pool: str, chat_id: int) -> str:
    """The deep link's `start` parameter: opaque to the user, ≤ 64 of [A-Za-z0-9_-]."""
    raw = f"{pool}:{chat_id}".encode()
    return _PAYLOAD_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_payload(payload: str) -> tuple[str, int] | None:
    """(pool, chat id) of a payload `encode_payload` made; None for anything else."""
    if not PAYLOAD.match(payload) or not payload.startswith(_PAYLOAD_PREFIX):
        return None
    body = payload[len(_PAYLOAD_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    pool, _, chat = raw.rpartition(":")
    if not POOL_NAME.match(pool) or not re.fullmatch(r"-?[0-9]{1,20}", chat):
        return None
    return (pool, int(chat)) if encode_payload(pool, int(chat)) == payload else None


def deep_link(username: str, payload: str) -> str:
    return f"https://t.me/{username}?start={payload}"


@dataclass(frozen=True)
class Assignment:
    """A chat's place in a pool, folded from `assignment-<pool>-<chat>`."""

    worker: int | None = None
    started: frozenset[int] = frozenset()  # the pool's bots the chat is known to have started

    @property
    def confirmed(self) -> bool:
        return self.worker is not None and self.worker in self.started


def evolve(state: Assignment, event: Event) -> Assignment:
    if isinstance(event, ChatAssigned):
        return replace(state, worker=event.bot_id, started=state.started | {event.started_bot_id})
    if isinstance(event, ChatAssignmentConfirmed):
        return replace(state, started=state.started | {event.bot_id})
    return state


ASSIGNMENT = Aggregate(Assignment(), evolve)


def stream_id(pool: str, chat_id: int) -> str:
    return f"assignment-{pool}-{chat_id}"


@dataclass(frozen=True)
class Started:
    """A /start on a bot of the pool, as the assignment decisions see it."""

    pool: Pool
    bot_id: int
    chat_id: int
    user_id: int
    at: datetime


def assign(state: Assignment, started: Started, worker: int | None) -> list[Event]:
    """On a /start: a chat with no worker is assigned `worker` (the one chosen for a front's
    /start, or the worker it started); one that has a worker keeps it (sticky), and starting
    that worker confirms it once. Starting another bot of the pool changes nothing."""
    pool = started.pool
    if state.worker is None:
        if worker is None:
            return []
        via_front = started.bot_id == pool.front
        return [
            ChatAssigned(
                pool=pool.name, chat_id=started.chat_id, user_id=started.user_id, bot_id=worker,
                front_bot_id=pool.front, started_bot_id=started.bot_id,
                pool_bot_ids=list(pool.bots),
                payload=encode_payload(pool.name, started.chat_id) if via_front else None,
                assigned_at=started.at,
            )
        ]  # fmt: skip
    if started.bot_id == state.worker and not state.confirmed:
        return [
            ChatAssignmentConfirmed(
                pool=pool.name, chat_id=started.chat_id, user_id=started.user_id,
                bot_id=started.bot_id, confirmed_at=started.at,
            )
        ]  # fmt: skip
    return []
