"""The detailed health view and the database pool's metrics, against real PostgreSQL and
RabbitMQ: the figures are the real ones, and a dependency that fails is named, not fatal."""

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from chime_contracts.events import UserStarted
from chime_contracts.routing import dead_letter_queue
from chime_kit.consumer import Router
from chime_kit.ops import ops_routes
from chime_kit.service import readiness_of
from chime_kit.testing import eventually, publish_envelope

pytestmark = pytest.mark.integration
QUEUE = "demo.health"


def client_of(runtime) -> httpx.AsyncClient:
    app = Starlette(routes=ops_routes(readiness_of))
    app.state.service = type("Service", (), {"runtime": runtime})()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_the_view_names_dependencies_queues_backlog_and_uptime(runtime, amqp_url):
    async def ignore(uow, envelope):
        return None

    router = Router()
    runtime.subscribe(router, queue=QUEUE, event=UserStarted, handler=ignore)
    runtime.broker.include_router(router)
    await runtime.start()

    async def lag():
        return {"fire_lag_seconds": 0.25}

    runtime.report("scheduler", lag)
    # Poison goes to the dead-letter queue: the view must count it there.
    await publish_envelope(amqp_url, b"not an envelope", routing_key="user.started.v1")
    async with client_of(runtime) as client:

        async def dead_lettered():
            body = (await client.get("/health/details")).json()
            return body if body["queues"][0]["dead_letters"] == 1 else None

        body = await eventually(dead_lettered)
    assert body["service"] == "demo"
    assert body["status"] == "ok"
    assert body["uptime_seconds"] > 0
    assert body["version"] == "unknown"  # no chime-demo package
    postgres = body["dependencies"]["postgres"]
    assert postgres["ok"] is True
    assert 0 < postgres["latency_ms"] < 2000
    assert postgres["server_version"]
    assert postgres["pool"]["size"] == 10
    assert postgres["pool"]["open"] >= 1
    assert body["dependencies"]["rabbitmq"]["ok"] is True
    assert body["dependencies"]["rabbitmq"]["relay_connected"] is True
    assert body["queues"] == [{"name": QUEUE, "messages": 0, "consumers": 1, "dead_letters": 1}]
    assert body["outbox"] == {"pending": 0, "oldest_seconds": 0.0}
    assert body["in_flight"] == {QUEUE: {"messages": 0, "oldest_event_age_seconds": None}}
    assert {loop["name"] for loop in body["loops"]} == {"outbox-relay-demo"}
    assert body["scheduler"]["ok"] is True
    assert body["scheduler"]["fire_lag_seconds"] == 0.25
    assert dead_letter_queue(QUEUE) == f"{QUEUE}.dlq"

    # The database goes: the view still answers, and says what is wrong.
    await runtime.relay.stop()
    await runtime.pool.close()
    async with client_of(runtime) as client:
        response = await client.get("/health/details")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["dependencies"]["postgres"]["ok"] is False
    assert "error" in body["dependencies"]["postgres"]


async def test_the_pool_exports_size_in_use_and_waiting(runtime):
    def figure(name: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"service": "demo"})

    held = [await runtime.pool.acquire() for _ in range(10)]
    try:
        assert figure("chime_db_pool_size") == 10
        assert figure("chime_db_pool_in_use") == 10
        assert figure("chime_db_pool_open") == 10
        waiter = asyncio.ensure_future(runtime.pool.acquire(timeout=5))

        async def waiting():
            return figure("chime_db_pool_waiting") == 1

        await eventually(waiting)
        await runtime.pool.release(held.pop())
        held.append(await waiter)
        assert figure("chime_db_pool_waiting") == 0
    finally:
        for conn in held:
            await runtime.pool.release(conn)
    assert figure("chime_db_pool_in_use") == 0
    waited = REGISTRY.get_sample_value("chime_db_pool_acquire_seconds_count", {"service": "demo"})
    assert waited >= 11
