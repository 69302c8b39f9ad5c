"""API keys: issue, rotate, revoke, limit; authenticate a presented key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chime_api.adapters.limits import Read, authenticate_and_spend, spend, spend_and_read
from chime_api.domain.events import ApiKeyCreated, ApiKeyLimitsSet, ApiKeyRevoked, ApiKeyRotated
from chime_api.domain.keys import (
    KEY,
    ApiKey,
    InvalidKeyError,
    KnownKeys,
    Limits,
    Scope,
    hash_secret,
    issue_key,
    parse_key,
    stream_of,
)
from chime_api.domain.limits import Spent
from chime_api.ports import Keys
from chime_contracts.envelope import Event
from chime_kit.db import Connection
from chime_kit.streams import Work, decide

KeyDecision = Callable[[ApiKey | None], Sequence[Event]]


@dataclass(frozen=True)
class NewKey:
    name: str
    scopes: frozenset[Scope]
    team: str | None = None
    limits: Limits | None = None


async def _decide(uow: Work, keys: Keys, key_id: str, decision: KeyDecision) -> ApiKey | None:
    """Key events stay in the api's store: wrapped here, so `decide` does not publish them."""
    decided = await decide(
        uow,
        stream_of(key_id),
        KEY,
        lambda key: [uow.wrap(e) for e in decision(key)],
        project=keys.apply,
    )
    return decided.after


async def create_api_key(
    uow: Work, keys: Keys, new: NewKey, rotated_from: str | None = None
) -> tuple[ApiKey, str]:
    """Store a new key; returns it and the plaintext key, which exists nowhere else."""
    issued = issue_key()
    created = ApiKeyCreated(
        api_key_id=issued.id,
        name=new.name,
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        scopes=sorted(new.scopes),
        created_at=datetime.now(UTC),
        team=new.team,
        rate_per_second=new.limits.per_second if new.limits else None,
        burst=new.limits.burst if new.limits else None,
        rotated_from=rotated_from,
    )
    key = await _decide(uow, keys, issued.id, lambda _: [created])
    assert key is not None
    return key, issued.plaintext


async def revoke_api_key(uow: Work, keys: Keys, key_id: str) -> bool:
    """False when there is no such key, or it no longer works anyway."""
    now = datetime.now(UTC)
    revoked = ApiKeyRevoked(api_key_id=key_id, revoked_at=now)
    key = await _decide(uow, keys, key_id, lambda k: [revoked] if k and k.active(now) else [])
    return key is not None and key.revoked_at == now


async def rotate_api_key(
    uow: Work, keys: Keys, key_id: str, overlap: timedelta
) -> tuple[ApiKey, str] | None:
    """A successor with the same name, scopes, team and limits; the old key keeps working for
    `overlap` (never longer than it would have). None when the key no longer works."""
    now = datetime.now(UTC)
    current = await get_key(keys, key_id)
    if current is None or not current.active(now):
        return None
    successor, plaintext = await create_api_key(
        uow, keys, NewKey(current.name, current.scopes, current.team, current.limits), key_id
    )
    ends = now + overlap
    if current.expires_at is not None:
        ends = min(ends, current.expires_at)
    rotated = ApiKeyRotated(api_key_id=key_id, successor_id=successor.id, expires_at=ends)
    await _decide(uow, keys, key_id, lambda k: [rotated] if k and k.active(now) else [])
    return successor, plaintext


async def set_limits(uow: Work, keys: Keys, key_id: str, limits: Limits) -> ApiKey | None:
    event = ApiKeyLimitsSet(
        api_key_id=key_id, rate_per_second=limits.per_second, burst=limits.burst
    )
    return await _decide(uow, keys, key_id, lambda k: [event] if k is not None else [])


async def get_key(keys: Keys, key_id: str) -> ApiKey | None:
    return await keys.get(key_id)


async def list_api_keys(keys: Keys) -> list[ApiKey]:
    return await keys.all()


def may_manage(caller: ApiKey, key: ApiKey) -> bool:
    """An admin key manages its team's keys; a key without a team, only itself."""
    return key.id == caller.id or (caller.team is not None and key.team == caller.team)


async def owned_key(keys: Keys, caller: ApiKey, key_id: str) -> ApiKey | None:
    key = await keys.get(key_id)
    return key if key is not None and may_manage(caller, key) else None


async def page_of_keys(
    keys: Keys, caller: ApiKey, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[ApiKey], bool]:
    rows = await keys.page(caller, limit + 1, after)
    return rows[:limit], len(rows) > limit


# Per process: a memo of what never changes (see KnownKeys), so replicas need not share it.
KNOWN_KEYS = KnownKeys()


async def authenticate(
    conn: Connection, presented: str, default: Limits, known: KnownKeys = KNOWN_KEYS
) -> tuple[ApiKey, Spent] | None:
    """The working key a client presented and its rate-limit bucket after this request, or
    None (malformed, unknown, wrong secret, revoked or past its rotation overlap: the caller
    cannot tell these apart, and nothing is spent). One statement either way; a key this
    process has seen work before is checked and spent without reading its row back."""
    seen = known.get(presented)
    if seen is not None:
        spent = await spend(conn, seen.id, seen.secret_hash, default)
        return (seen, spent) if spent is not None else None
    try:
        key_id, secret = parse_key(presented)
    except InvalidKeyError:
        return None
    found = await authenticate_and_spend(conn, key_id, hash_secret(secret), default)
    if found is not None:
        known.remember(presented, found[0])
    return found


async def authenticate_and_read(
    conn: Connection,
    presented: str,
    default: Limits,
    read: Callable[[ApiKey], Read],
    known: KnownKeys = KNOWN_KEYS,
) -> tuple[ApiKey, Spent, list[Any] | None] | None:
    """As `authenticate`, with the route's read in the same statement when this process has
    seen the key work before (one round trip for the request); the rows are None for a key
    seen for the first time (its row is read back: the route reads after)."""
    seen = known.get(presented)
    if seen is None:
        found = await authenticate(conn, presented, default, known)
        return None if found is None else (found[0], found[1], None)
    got = await spend_and_read(conn, seen.id, seen.secret_hash, default, read(seen))
    return None if got is None else (seen, got[0], got[1])
