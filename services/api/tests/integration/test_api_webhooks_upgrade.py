"""A database whose webhooks were written before they had streams (migration 0011)
upgrades: each endpoint keeps its owner, secret, types, cursor and delivered count, is due
at once, and a rebuild gives the same rows."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.entrypoints.cli import SERVICE_CLI
from chime_kit.db import create_pool
from chime_kit.migrator import migrate
from chime_kit.testing import migrate_as_before, table_rows

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def test_webhooks_written_before_streams_survive_the_upgrade(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await migrate_as_before(conn, SERVICE, MIGRATIONS, "0011")
        for n, (delivered, attempts) in enumerate([(0, 0), (7, 3)]):
            await conn.execute(
                "INSERT INTO webhooks (id, owner, api_key_id, url, secret, types, position,"
                " attempts, next_attempt_at, last_error, delivered, created_at)"
                " VALUES ($1, 'team:a', 'key_1', 'https://x.example/h', $2, $3, $4, $5, $6,"
                " $7, $8, $9)",
                f"whk_{n}", f"whsec_{n}", ["message.sent.v1"], 40 + n, attempts,
                T0 + timedelta(days=1), "HTTP 503" if attempts else None, delivered,
                T0 + timedelta(minutes=n),
            )  # fmt: skip
        await migrate(conn, SERVICE, MIGRATIONS)
    finally:
        await conn.close()
    pool = await create_pool(database_url, SERVICE, min_size=1, max_size=1)
    try:
        rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM webhooks")}
        upgraded = await table_rows(pool, "webhooks")
        await SERVICE_CLI.rebuild(database_url)
        assert await table_rows(pool, "webhooks") == upgraded
        streams = await pool.fetch(
            "SELECT stream_id, array_agg(type ORDER BY version) AS types FROM events"
            " WHERE stream_id LIKE 'webhook-%' GROUP BY stream_id ORDER BY stream_id"
        )
    finally:
        await pool.close()
    fresh, busy = rows["whk_0"], rows["whk_1"]
    assert (fresh["position"], fresh["delivered"], fresh["next_attempt_at"]) == (40, 0, T0)
    assert (busy["position"], busy["delivered"], busy["attempts"]) == (41, 7, 0)
    assert busy["last_error"] is None
    assert busy["next_attempt_at"] <= datetime.now(UTC)
    assert (busy["secret"], busy["types"], busy["owner"]) == (
        "whsec_1", ["message.sent.v1"], "team:a",
    )  # fmt: skip
    assert [(s["stream_id"], s["types"]) for s in streams] == [
        ("webhook-whk_0", ["webhook.created.v1"]),
        ("webhook-whk_1", ["webhook.created.v1", "webhook.delivered.v1"]),
    ]
