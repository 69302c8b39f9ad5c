"""Polling with two replicas: one poller per bot at a time, taken over when its holder dies."""

import asyncio
import contextlib
import logging

import httpx
import pytest

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.entrypoints.app import create_app
from chime_ingest.settings import IngestSettings
from chime_kit.testing import eventually, serving

pytestmark = pytest.mark.integration

TOKENS = (
    "5550021:AAIngestLeaseTestTokenXXXXXXXXXXXXXX",
    "5550022:AAIngestLeaseTestTokenYYYYYYYYYYYYYY",
)
BOTS = (5550021, 5550022)


def replica(database_url, amqp_url, telegram):
    return create_app(
        IngestSettings(
            database_url=database_url,
            amqp_url=amqp_url,
            bot_tokens=list(TOKENS),
            mode="polling",
            telegram_api_base=telegram,
            polling_timeout_seconds=1,
            poll_lease_seconds=3,
        )
    )


def polled(*apps) -> list[frozenset[int]]:
    return [app.state.service.poller.polling for app in apps]


async def die(app) -> None:
    """What a replica killed with -9 leaves: leases it no longer renews, no polls."""
    poller = app.state.service.poller
    await poller.loop.stop()
    for task in poller._polls.values():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_one_replica_polls_each_bot_and_another_takes_over_when_it_dies(
    database_url, amqp_url, caplog
):
    caplog.set_level(logging.WARNING, logger="chime_ingest.entrypoints.polling")
    emulator = create_emulator(EmulatorConfig(bot_tokens=TOKENS))
    async with serving(emulator) as telegram, httpx.AsyncClient(base_url=telegram) as control:

        async def say(bot_id: int, text: str) -> None:
            await control.post(
                "/_emulator/messages", json={"bot_id": bot_id, "chat_id": 77, "text": text}
            )

        first = replica(database_url, amqp_url, telegram)
        second = replica(database_url, amqp_url, telegram)
        async with serving(first), serving(second):
            pool = first.state.service.runtime.pool

            async def each_bot_once():
                a, b = polled(first, second)
                return a | b == set(BOTS) and not a & b

            await eventually(each_bot_once)
            for n in range(5):
                for bot_id in BOTS:
                    await say(bot_id, f"before {n}")

            async def stored(count: int):
                return await pool.fetchval("SELECT count(*) FROM updates") == count or None

            await eventually(lambda: stored(10))
            # Steady: for several renewals, still one poller per bot, the same one.
            before = polled(first, second)
            await asyncio.sleep(3)
            assert polled(first, second) == before

            holder = first if polled(first, second)[0] else second
            survivor = second if holder is first else first
            held = holder.state.service.poller.polling
            await die(holder)
            await eventually(lambda: _polls(survivor, set(BOTS)), within=15)
            for bot_id in held:
                await say(bot_id, "after the takeover")
            await eventually(lambda: stored(10 + len(held)))
            counts = await pool.fetch(
                "SELECT bot_id, count(*) AS n FROM updates GROUP BY bot_id ORDER BY bot_id"
            )
            assert [r["n"] for r in counts] == [5 + (b in held) for b in BOTS]
        conflicts = [r for r in caplog.records if "Conflict" in r.getMessage()]
        assert len(conflicts) <= len(BOTS)  # at most one handover answer per bot, no storm


async def _polls(app, bots: set[int]) -> bool:
    return app.state.service.poller.polling == bots
