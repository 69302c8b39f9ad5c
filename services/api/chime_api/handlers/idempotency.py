"""Idempotency-Key around any POST: one effect and one response per (key, Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from chime_api.adapters.idempotency import IdempotencyRepository
from chime_api.domain.idempotency import (
    IdempotencyInFlightError,
    IdempotencyRecord,
    StoredResponse,
)
from chime_kit.db import Connection
from chime_kit.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Accepted:
    response: StoredResponse


@dataclass(frozen=True)
class Replayed:
    response: StoredResponse


@dataclass(frozen=True)
class KeyReused:
    """The Idempotency-Key was first used with a different request."""


Outcome = Accepted | Replayed | KeyReused
Effect = Callable[[UnitOfWork], Awaitable[StoredResponse]]


@dataclass(frozen=True)
class Policy:
    wait_seconds: float  # how long a duplicate waits for the first request's commit
    ttl: timedelta  # how long the first response is replayed


async def once(
    uow: UnitOfWork,
    api_key_id: str,
    idempotency: Idempotency | None,
    policy: Policy,
    effect: Effect,
) -> Outcome:
    """Run `effect` once per Idempotency-Key. The response it returns commits with the
    effect, so a replay always matches what happened."""
    records = IdempotencyRepository(uow.conn)
    # Claimed first: a new key (most requests) costs one statement; a key already used
    # (committed, or by a request that committed while we waited) is read after.
    if idempotency is not None and not await records.claim(
        api_key_id, idempotency.key, idempotency.fingerprint, policy.wait_seconds, policy.ttl
    ):
        seen = await records.get(api_key_id, idempotency.key, policy.ttl)
        if seen is None:
            raise IdempotencyInFlightError(idempotency.key)
        return _replay(seen, idempotency)
    response = await effect(uow)
    if idempotency is not None:
        await records.complete(api_key_id, idempotency.key, response)
    return Accepted(response)


def _replay(seen: IdempotencyRecord, idempotency: Idempotency) -> Outcome:
    if seen.fingerprint != idempotency.fingerprint:
        return KeyReused()
    if seen.response is None:
        raise IdempotencyInFlightError(idempotency.key)
    return Replayed(seen.response)


async def purge_expired(conn: Connection, ttl: timedelta) -> int:
    """Delete expired records in batches; how many went."""
    records = IdempotencyRepository(conn)
    total = 0
    while deleted := await records.purge(ttl):
        total += deleted
    return total
