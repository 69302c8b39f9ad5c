import asyncio

import httpx
import pytest
from starlette.applications import Starlette

from chime_kit.loops import BackgroundLoop
from chime_kit.ops import ops_routes
from chime_kit.service import readiness_of

pytestmark = pytest.mark.integration


async def test_readiness_names_what_is_missing(runtime):
    await runtime.start()
    assert await runtime.readiness() == {"postgres": True, "rabbitmq": True, "outbox_relay": True}
    await runtime.relay.stop()
    await runtime.pool.close()
    assert await runtime.readiness() == {
        "postgres": False,
        "rabbitmq": True,
        "outbox_relay": False,
    }


async def test_a_failing_loop_is_named_by_readyz_and_a_wedged_one_turns_healthz_red(runtime):
    now = [0.0]

    async def failing() -> None:
        raise OSError("connection refused")

    async def hanging() -> None:
        await asyncio.Event().wait()

    broken = runtime.watch(
        BackgroundLoop("broken", failing, restart_base_seconds=0.001, clock=lambda: now[0])
    )
    stuck = runtime.watch(BackgroundLoop("stuck", hanging, clock=lambda: now[0]))
    await runtime.start()
    broken.start()
    stuck.start()
    app = Starlette(routes=ops_routes(readiness_of))
    app.state.service = type("Service", (), {"runtime": runtime})()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ops"
    ) as client:
        while broken.failures < 2:
            await asyncio.sleep(0.01)
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        now[0] += 400  # past both thresholds
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["loop broken"] is False
        assert "loop stuck" not in ready.json()["checks"]
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"status": "wedged", "wedged": ["loop stuck"]}
    await broken.stop()
    await stuck.stop()
