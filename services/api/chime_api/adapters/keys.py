"""The api_keys table: a projection of the key streams, read on every request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chime_api.domain.events import ApiKeyCreated, ApiKeyLimitsSet, ApiKeyRevoked, ApiKeyRotated
from chime_api.domain.keys import LEGACY_SCOPES, ApiKey, Limits, Scope
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

_KNOWN_SCOPES = {s.value for s in Scope}


class PostgresKeys:
    tables = ("api_keys",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            e = r.envelope.data
            if isinstance(e, ApiKeyCreated):
                await self.conn.execute(
                    "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes, created_at,"
                    " team, rate_per_second, burst, rotated_from)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    e.api_key_id, e.name, e.prefix, e.secret_hash,
                    sorted({LEGACY_SCOPES.get(s, s) for s in e.scopes}), e.created_at,
                    e.team, e.rate_per_second, e.burst, e.rotated_from,
                )  # fmt: skip
            elif isinstance(e, ApiKeyRevoked):
                await self.conn.execute(
                    "UPDATE api_keys SET revoked_at = $2 WHERE id = $1", e.api_key_id, e.revoked_at
                )
            elif isinstance(e, ApiKeyRotated):
                await self.conn.execute(
                    "UPDATE api_keys SET expires_at = $2 WHERE id = $1", e.api_key_id, e.expires_at
                )
            elif isinstance(e, ApiKeyLimitsSet):
                await self.conn.execute(
                    "UPDATE api_keys SET rate_per_second = $2, burst = $3 WHERE id = $1",
                    e.api_key_id, e.rate_per_second, e.burst,
                )  # fmt: skip

    async def get(self, key_id: str) -> ApiKey | None:
        row = await self.conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
        return key_of(row) if row is not None else None

    async def page(
        self, caller: ApiKey, limit: int, after: tuple[datetime, str] | None
    ) -> list[ApiKey]:
        """The keys of the caller's team (or the caller alone), newest first."""
        rows = await self.conn.fetch(
            "SELECT * FROM api_keys WHERE (CASE WHEN $1::text IS NULL THEN id = $2"
            " ELSE team = $1 END)"
            " AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))"
            " ORDER BY created_at DESC, id DESC LIMIT $3",
            caller.team,
            caller.id,
            limit,
            after[0] if after else None,
            after[1] if after else None,
        )
        return [key_of(r) for r in rows]

    async def all(self) -> list[ApiKey]:
        rows = await self.conn.fetch("SELECT * FROM api_keys ORDER BY created_at, id")
        return [key_of(r) for r in rows]


def key_of(row: Any) -> ApiKey:
    rate, burst = row["rate_per_second"], row["burst"]
    return ApiKey(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        secret_hash=row["secret_hash"],
        scopes=frozenset(Scope(s) for s in row["scopes"] if s in _KNOWN_SCOPES),
        created_at=row["created_at"],
        team=row["team"],
        revoked_at=row["revoked_at"],
        expires_at=row["expires_at"],
        limits=Limits(rate, burst) if rate is not None and burst is not None else None,
    )
