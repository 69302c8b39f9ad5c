"""Per-key rate limits held in PostgreSQL: exact across two api replicas, told by the
RateLimit headers, 429 with Retry-After when spent; usage per key per day."""

import asyncio
from datetime import UTC, datetime

import pytest
from api_support import READ, WRITE, auth, running

from chime_api.domain.keys import Limits
from chime_api.entrypoints.app import create_app
from chime_api.entrypoints.cli import create_key

pytestmark = pytest.mark.integration


async def test_a_spent_bucket_answers_429_with_retry_after(client, settings):
    _, key = await create_key(settings, "slow", [READ], limits=Limits(0.5, 3))
    answers = [await client.get("/v1/notifications", headers=auth(key)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=6'
    assert answers[2].headers["ratelimit"].startswith('"default";r=0;')
    limited = answers[3]
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert "ratelimit" in limited.headers


async def test_the_limit_is_exact_across_two_replicas(settings):
    burst = 300
    # Practically no refill during the test: the grants are the bucket, exactly.
    _, key = await create_key(settings, "shared", [READ], limits=Limits(0.001, burst))
    one, two = create_app(settings), create_app(settings)
    async with running(one) as a, running(two) as b:

        async def hammer(client, n: int) -> list[int]:
            at_once = asyncio.Semaphore(20)  # concurrent, yet within each replica's pool

            async def get() -> int:
                async with at_once:
                    response = await client.get("/v1/notifications", headers=auth(key))
                return response.status_code

            return list(await asyncio.gather(*(get() for _ in range(n))))

        codes = [c for part in await asyncio.gather(hammer(a, 250), hammer(b, 250)) for c in part]
    assert codes.count(200) == burst
    assert codes.count(429) == 500 - burst


async def test_usage_counts_requests_limits_and_messages_per_key_per_day(client, settings, app):
    _, key = await create_key(settings, "user", [WRITE, READ], team="u", limits=Limits(0.01, 4))
    admin_key, admin = await create_key(settings, "adm", [READ], team="u")
    stranger_key, stranger = await create_key(settings, "other", [READ], team="x")
    for n in range(3):
        sent = await client.post("/v1/notifications", json={"chat_id": n, "text": "x"},
                                 headers=auth(key))  # fmt: skip
        assert sent.status_code == 202
    assert (await client.get("/v1/notifications", headers=auth(key))).status_code == 200
    assert (await client.get("/v1/notifications", headers=auth(key))).status_code == 429
    service = app.state.service
    async with service.runtime.pool.acquire() as conn:
        await service.deps.usage.flush(conn)

    page = (await client.get("/v1/usage", headers=auth(admin))).json()
    today = datetime.now(UTC).date().isoformat()
    mine = [row for row in page["items"] if row["api_key_id"] != admin_key.id]
    assert len(mine) == 1
    assert mine[0] | {"api_key_id": None} == {
        "api_key_id": None, "day": today, "requests": 5, "limited": 1, "messages": 3,
        "sent": 0, "failures": 0,
    }  # fmt: skip
    # Another team sees none of it.
    theirs = (await client.get("/v1/usage", headers=auth(stranger))).json()["items"]
    assert {row["api_key_id"] for row in theirs} <= {stranger_key.id}
