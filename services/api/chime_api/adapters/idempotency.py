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

# The claim: insert the record, or take over one past its time to live (as if it had been
# deleted first), in one statement. The transaction's lock_timeout is the wait for another
# request holding the key: set (transaction-local) by the subquery that makes the row, so
# before the insert can wait on the other's uncommitted row, and back to none once the
# insert is done (the count reads every row the insert returns before the outer select's
# own column is computed), so the rest of the transaction waits as it did before.
_CLAIM = """
WITH claimed AS (
    INSERT INTO idempotency_keys AS i (api_key_id, key, fingerprint)
    SELECT $1, $2, $3 FROM (SELECT set_config('lock_timeout', $5, true)) AS wait
    ON CONFLICT (api_key_id, key) DO UPDATE SET
        fingerprint = EXCLUDED.fingerprint, response_status = NULL, response_body = NULL,
        response_headers = NULL, created_at = now()
    WHERE i.created_at <= now() - $4::interval
    RETURNING 1
)
SELECT count(*) = 1 AS claimed, set_config('lock_timeout', '0', true) AS waits FROM claimed
"""


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
        """Insert the in-flight record, or take over an expired one; False if a live one
        exists (committed by another request). One statement, one round trip.

        A concurrent request holding the same key makes this wait for its transaction, at
        most `wait` seconds, then IdempotencyInFlightError.
        """
        try:
            claimed = await self.conn.fetchval(_CLAIM, api_key_id, key, fingerprint, ttl,
                                               f"{int(wait * 1000)}ms")  # fmt: skip
        except asyncpg.LockNotAvailableError as exc:
            raise IdempotencyInFlightError(key) from exc
        return bool(claimed)

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
