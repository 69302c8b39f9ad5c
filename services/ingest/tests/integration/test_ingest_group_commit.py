"""Group commit in the receive path: concurrent updates share transactions, each caller is
answered after its own commit, a bad update fails alone, duplicates are dropped."""

import asyncio
import json
from dataclasses import replace

import httpx
import pytest
from ingest_harness import BOT, message
from prometheus_client import REGISTRY

from chime_ingest.domain.bots import webhook_secret
from chime_ingest.domain.updates import NotAnUpdate
from chime_ingest.entrypoints.app import create_app
from chime_ingest.entrypoints.intake import Intake
from chime_ingest.settings import IngestSettings
from chime_kit.testing import serving

pytestmark = pytest.mark.integration

TOKEN = "5550011:AAIngestGroupCommitTestTokenXXXXXXXXX"
WEBHOOK_BOT = 5550011


def commits() -> tuple[float, float]:
    """Transactions of the receive path so far, and the updates they stored."""
    count = REGISTRY.get_sample_value("chime_ingest_group_commit_updates_count") or 0.0
    total = REGISTRY.get_sample_value("chime_ingest_group_commit_updates_sum") or 0.0
    return count, total


async def test_concurrent_requests_are_committed_together_each_answered_after_its_commit(
    database_url, amqp_url
):
    settings = IngestSettings(
        database_url=database_url, amqp_url=amqp_url, bot_tokens=[TOKEN], webhook_secret_key="k"
    )
    app = create_app(settings)
    headers = {"X-Telegram-Bot-Api-Secret-Token": webhook_secret("k", WEBHOOK_BOT)}
    # Connections idle for a second are not reused: uvicorn closes idle ones after five, and
    # a request sent on one it is closing fails (on a busy machine a pause can be that long).
    limits = httpx.Limits(max_connections=100, keepalive_expiry=1.0)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, limits=limits) as client:
        pool = app.state.service.runtime.pool
        before = commits()

        async def post(update_id: int) -> bool:
            body = json.dumps(message(update_id, 1000 + update_id % 50)).encode()
            response = await client.post(
                f"/telegram/{WEBHOOK_BOT}/webhook", content=body, headers=headers
            )
            assert response.status_code == 200, response.text
            # Answered only once committed: the row is visible to any other session now.
            return bool(
                await pool.fetchval("SELECT count(*) FROM updates WHERE update_id = $1", update_id)
            )

        assert all(await asyncio.gather(*(post(n) for n in range(1, 201))))
        count, total = commits()
        assert total - before[1] == 200
        assert count - before[0] < 200  # some transactions stored several requests


async def test_a_bad_update_among_concurrent_ones_fails_alone(runtime):
    class Corrupting(Intake):
        """Hands PostgreSQL one payload it refuses, as a rare escape the checks miss."""

        def arrival(self, bot_id, body, raw):
            made = super().arrival(bot_id, body, raw)
            if made.update_id == 13:
                return replace(made, payload='{"broken')
            return made

    intake = Corrupting(runtime, on_stored=lambda: None)
    intake.start()
    try:
        results = await asyncio.gather(
            *(intake.receive(BOT, message(n, n)) for n in range(1, 31)),
            intake.receive(BOT, {"update_id": 40, "message": {"chat": {"id": 1}}}),
            return_exceptions=True,
        )
    finally:
        await intake.stop()
    bad = results[12]
    assert isinstance(bad, NotAnUpdate), bad
    assert "PostgreSQL cannot store it" in str(bad)
    assert results[:12] + results[13:30] == ["accepted"] * 29
    assert results[30] == "rejected"  # content Chime cannot act on: kept, answered 200
    statuses = dict(
        await runtime.pool.fetch("SELECT status, count(*) FROM updates GROUP BY status")
    )
    assert statuses == {"accepted": 29, "rejected": 1}
    assert await runtime.pool.fetchval("SELECT count(*) FROM update_queue") == 29
    assert await runtime.pool.fetchval("SELECT body FROM rejected_bodies") == '{"broken'


async def test_duplicates_in_one_batch_and_across_batches_are_stored_and_queued_once(intake):
    runtime = intake.runtime
    first = await asyncio.gather(*(intake.receive(BOT, message(7, 70)) for _ in range(50)))
    assert sorted(first) == ["accepted"] + ["duplicate"] * 49
    again = await asyncio.gather(*(intake.receive(BOT, message(n, 70)) for n in (7, 8, 7, 8)))
    assert again == ["duplicate", "accepted", "duplicate", "duplicate"]
    assert await runtime.pool.fetchval("SELECT count(*) FROM updates") == 2
    assert await runtime.pool.fetchval("SELECT count(*) FROM update_queue") == 2


async def test_a_caller_waiting_while_the_database_is_gone_gets_a_retryable_error(runtime):
    intake = Intake(runtime, on_stored=lambda: None)
    intake.start()
    await runtime.pool.close()  # every later acquire fails as an unreachable database does
    try:
        with pytest.raises(ConnectionError):
            await intake.receive(BOT, message(1, 1))
    finally:
        await intake.stop()
