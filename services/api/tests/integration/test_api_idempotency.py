"""Idempotency-Key on every POST: replayed for a day, refused with another body, then
expired and purged; a key in flight waited for, then refused."""

import time
from datetime import timedelta

import pytest
from api_support import READ, WRITE, auth

from chime_api.adapters.idempotency import IdempotencyRepository
from chime_api.domain.idempotency import IdempotencyInFlightError, StoredResponse
from chime_api.entrypoints.cli import purge

pytestmark = pytest.mark.integration


async def test_every_post_takes_an_idempotency_key(client):
    spec = (await client.get("/openapi.json")).json()
    posts = [(path, ops["post"]) for path, ops in spec["paths"].items() if "post" in ops]
    assert posts
    for path, post in posts:
        names = {p["name"] for p in post.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in names, path


async def test_an_expired_record_is_forgotten_and_purged(client, make_key, settings, app):
    key = await make_key(WRITE, READ)
    headers = {**auth(key), "Idempotency-Key": "daily-report"}

    async def send(text: str):
        return await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": text}, headers=headers
        )

    first = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "a"}, headers=headers
    )
    replay = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "a"}, headers=headers
    )
    assert replay.json()["id"] == first.json()["id"]
    other = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "b"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"

    pool = app.state.service.runtime.pool
    await pool.execute("UPDATE api.idempotency_keys SET created_at = now() - interval '25 hours'")
    # Past its day the key is free again: this is a new request with a new effect.
    fresh = await client.post(
        "/v1/notifications", json={"chat_id": 1, "text": "b"}, headers=headers
    )
    assert fresh.status_code == 202
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]

    await client.post("/v1/notifications", json={"chat_id": 2, "text": "c"},
                      headers={**auth(key), "Idempotency-Key": "old"})  # fmt: skip
    await pool.execute(
        "UPDATE api.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'"
    )
    assert await purge(settings) == 1
    keys = await pool.fetch("SELECT key FROM api.idempotency_keys")
    assert [r["key"] for r in keys] == ["daily-report"]


async def test_a_claim_waits_for_the_key_in_flight_then_lets_the_rest_wait_as_before(client, app):
    """The claim is one statement: a request holding the key makes another wait at most its
    `wait` (then IdempotencyInFlightError: 409), a committed one is not claimed again, and
    the transaction's lock_timeout is back to none once the claim is done."""
    pool = app.state.service.runtime.pool
    day = timedelta(days=1)
    async with pool.acquire() as first, pool.acquire() as second:
        holding = first.transaction()
        await holding.start()
        assert await IdempotencyRepository(first).claim("k1", "busy", "f", 2.0, day)
        assert await first.fetchval("SHOW lock_timeout") == "0"
        async with second.transaction():
            started = time.perf_counter()
            with pytest.raises(IdempotencyInFlightError):
                await IdempotencyRepository(second).claim("k1", "busy", "f", 0.2, day)
            assert 0.15 < time.perf_counter() - started < 1.5
        await IdempotencyRepository(first).complete("k1", "busy", StoredResponse(202, {}, {}))
        await holding.commit()
        async with second.transaction():
            assert not await IdempotencyRepository(second).claim("k1", "busy", "f", 0.2, day)
            assert await second.fetchval("SHOW lock_timeout") == "0"
            seen = await IdempotencyRepository(second).get("k1", "busy", day)
        assert seen is not None
        assert seen.response == StoredResponse(202, {}, {})
        # Past its time to live the record is taken over: in flight again, for the new body.
        await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")
        async with second.transaction():
            assert await IdempotencyRepository(second).claim("k1", "busy", "g", 0.2, day)
            seen = await IdempotencyRepository(second).get("k1", "busy", day)
        assert seen is not None
        assert (seen.fingerprint, seen.response) == ("g", None)
