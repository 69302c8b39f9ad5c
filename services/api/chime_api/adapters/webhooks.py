"""The webhooks table: a projection of the streams `webhook-<id>` (see
`chime_api.domain.webhooks`), each event folded into its row and the row written back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import datetime

from chime_api.domain.webhooks import Webhook, evolve
from chime_kit.db import Connection
from chime_kit.event_store import Recorded

__all__ = ["PostgresWebhooks", "Webhook"]

_NAMES = [f.name for f in fields(Webhook)]
_UPSERT = (
    f"INSERT INTO webhooks ({', '.join(_NAMES)})"  # noqa: S608 - our column names
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(_NAMES) + 1))})"
    " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{n} = excluded.{n}" for n in _NAMES[1:])
)


class PostgresWebhooks:
    tables = ("webhooks",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, events: Sequence[Recorded]) -> None:
        for r in events:
            if not r.stream_id.startswith("webhook-"):
                continue
            webhook_id = r.stream_id.removeprefix("webhook-")
            hook = evolve(await self.get(webhook_id), r.envelope.data)
            if hook is None:
                await self.conn.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)
            else:
                await self.conn.execute(_UPSERT, *astuple(hook))

    async def get(self, webhook_id: str) -> Webhook | None:
        row = await self.conn.fetchrow("SELECT * FROM webhooks WHERE id = $1", webhook_id)
        return Webhook(**dict(row)) if row else None

    async def page(
        self, owner: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Webhook]:
        rows = await self.conn.fetch(
            "SELECT * FROM webhooks WHERE owner = $1"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            owner, limit, *(after or (None, None)),
        )  # fmt: skip
        return [Webhook(**dict(r)) for r in rows]

    async def due(self, limit: int, after: str = "") -> list[Webhook]:
        """Due endpoints that are not paused and that no replica holds (or whose holder's
        lease has run out), in id order from the first after `after`, then from the start:
        a round looks at the next `limit` of them, so endpoints that are due but have nothing
        new never keep the ones behind them waiting. Reads only: locks nothing, writes
        nothing."""
        rows = await self.conn.fetch(
            "SELECT w.* FROM webhooks w WHERE NOT w.paused AND w.next_attempt_at <= now()"
            " AND NOT EXISTS (SELECT 1 FROM webhook_claims c"
            "                 WHERE c.webhook_id = w.id AND c.lease_until > now())"
            " ORDER BY w.id <= $2, w.id LIMIT $1",
            limit,
            after,
        )
        return [Webhook(**dict(r)) for r in rows]

    async def claim(self, webhook_ids: Sequence[str], holder: str, lease: float) -> list[Webhook]:
        """Hold these endpoints for `lease` seconds, those no one else holds (or whose lease
        ran out): one statement, so of two replicas claiming the same one, one gets it (the
        other waits for its commit and then finds the claim live).

        The endpoints are read again once claimed, by a statement of their own: it sees
        what a round that gave one back meanwhile recorded (the claiming statement's
        snapshot may be older than that round's commit)."""
        claimed = await self.conn.fetch(
            "INSERT INTO webhook_claims (webhook_id, holder, lease_until)"
            " SELECT id, $2, now() + make_interval(secs => $3) FROM unnest($1::text[]) AS id"
            " ON CONFLICT (webhook_id) DO UPDATE"
            " SET holder = excluded.holder, lease_until = excluded.lease_until"
            " WHERE webhook_claims.lease_until <= now()"
            " RETURNING webhook_id",
            list(webhook_ids), holder, lease,
        )  # fmt: skip
        rows = await self.conn.fetch(
            "SELECT * FROM webhooks WHERE id = ANY($1::text[]) ORDER BY next_attempt_at",
            [r["webhook_id"] for r in claimed],
        )
        return [Webhook(**dict(r)) for r in rows]

    async def release(self, webhook_id: str, holder: str) -> None:
        """Give a claim back (only the holder's: one retaken after its lease is not)."""
        await self.conn.execute(
            "DELETE FROM webhook_claims WHERE webhook_id = $1 AND holder = $2", webhook_id, holder
        )

    async def forget_claims(self, webhook_id: str) -> None:
        """A deleted endpoint is claimed by no one."""
        await self.conn.execute("DELETE FROM webhook_claims WHERE webhook_id = $1", webhook_id)
