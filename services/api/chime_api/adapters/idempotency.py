"""Idempotency records: machinery, not a projection (each request's first response, kept
for a day and replayed to its retries)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from chime_api.domain.idempotency import (
    IdempotencyInFlightError,
    IdempotencyRecord,
    StoredResponse,
)
from chime_kit.db import Connection


class IdempotencyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, api_key_id: str, key: str, ttl: timedelta) -> IdempotencyRecord | None:
        """The record of this key, unless it expired (then it is as if never used)."""
        row = await self.conn.fetchrow(
            "SELECT fingerprint, response_status, response_body, response_headers"
            " FROM idempotency_keys WHERE api_key_id = $1 AND key = $2"
            " AND created_at > now() - $3::interval",
            api_key_id,
            key,
            ttl,
        )
        if row is None:
            return None
        response = None
        if row["response_status"] is not None:
            response = StoredResponse(
                status=row["response_status"],
                body=row["response_body"],
                headers=row["response_headers"] or {},
            )
        return IdempotencyRecord(fingerprint=row["fingerprint"], response=response)

    async def claim(
        self, api_key_id: str, key: str, fingerprint: str, wait: float, ttl: timedelta
    ) -> bool:
        """Insert the in-flight record; False if one exists (committed by another request).

        A concurrent request holding the same key makes this wait for its transaction, at
        most `wait` seconds, then IdempotencyInFlightError.
        """
        await self.conn.execute(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
        try:
            await self.conn.execute(
                "DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2"
                " AND created_at <= now() - $3::interval",
                api_key_id,
                key,
                ttl,
            )
            status = await self.conn.execute(
                "INSERT INTO idempotency_keys (api_key_id, key, fingerprint) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                api_key_id,
                key,
                fingerprint,
            )
        except asyncpg.LockNotAvailableError as exc:
            raise IdempotencyInFlightError(key) from exc
        await self.conn.execute("SET LOCAL lock_timeout = 0")
        return bool(status == "INSERT 0 1")

    async def complete(self, api_key_id: str, key: str, response: StoredResponse) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4,"
            " response_headers = $5 WHERE api_key_id = $1 AND key = $2",
            api_key_id,
            key,
            response.status,
            response.body,
            response.headers,
        )

    async def purge(self, ttl: timedelta, batch: int = 10_000) -> int:
        """Delete up to `batch` expired records; how many went."""
        status = await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM"
            " idempotency_keys WHERE created_at <= now() - $1::interval LIMIT $2))",
            ttl,
            batch,
        )
        return int(status.split()[-1])
