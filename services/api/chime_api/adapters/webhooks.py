"""The webhooks table: endpoints, their secrets and delivery cursors (machinery)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chime_kit.db import Connection


@dataclass(frozen=True)
class Webhook:
    id: str
    owner: str
    api_key_id: str
    url: str
    secret: str
    types: list[str]
    position: int
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered: int
    created_at: datetime


class Webhooks:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def add(self, hook: Webhook) -> None:
        await self.conn.execute(
            "INSERT INTO webhooks (id, owner, api_key_id, url, secret, types, position,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            hook.id, hook.owner, hook.api_key_id, hook.url, hook.secret, hook.types,
            hook.position, hook.created_at,
        )  # fmt: skip

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

    async def delete(self, webhook_id: str) -> None:
        await self.conn.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)

    async def replay(self, webhook_id: str, after: int) -> None:
        """Deliver again everything after `after`, from now on."""
        await self.conn.execute(
            "UPDATE webhooks SET position = $2, attempts = 0, next_attempt_at = now(),"
            " last_error = NULL WHERE id = $1",
            webhook_id,
            after,
        )

    async def claim_due(self, limit: int) -> list[Webhook]:
        """Due endpoints, each held by this transaction (another replica skips them)."""
        rows = await self.conn.fetch(
            "SELECT * FROM webhooks WHERE next_attempt_at <= now()"
            " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return [Webhook(**dict(r)) for r in rows]

    async def advanced(self, webhook_id: str, position: int, delivered: int, idle: float) -> None:
        await self.conn.execute(
            "UPDATE webhooks SET position = $2, delivered = delivered + $3, attempts = 0,"
            " last_error = NULL, next_attempt_at = now() + make_interval(secs => $4)"
            " WHERE id = $1",
            webhook_id, position, delivered, idle,
        )  # fmt: skip

    async def failed(
        self, webhook_id: str, position: int, delivered: int, error: str, wait: float
    ) -> None:
        await self.conn.execute(
            "UPDATE webhooks SET position = $2, delivered = delivered + $3,"
            " attempts = attempts + 1, last_error = $4,"
            " next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
            webhook_id, position, delivered, error[:500], wait,
        )  # fmt: skip
