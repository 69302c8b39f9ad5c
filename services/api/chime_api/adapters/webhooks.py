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

    async def claim_due(self, limit: int) -> list[Webhook]:
        """Due endpoints that are not paused, each held by this transaction (another replica
        skips them). One that is up to date stays due: looking for new events writes nothing."""
        rows = await self.conn.fetch(
            "SELECT * FROM webhooks WHERE NOT paused AND next_attempt_at <= now()"
            " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [Webhook(**dict(r)) for r in rows]
