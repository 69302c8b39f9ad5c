"""The detailed health view every service serves at `/health/details`.

Where `/readyz` answers yes or no for a load balancer, this tells a person what is wrong:
each dependency with how long it took to answer, the depth of the service's queues and
their dead-letter queues, the outbox's backlog and age, what its consumers hold, its loops,
and its version and uptime. Services add sections of their own (`Runtime.report`), e.g.
the scheduler's fire lag or the sender's breakers.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chime_contracts.routing import dead_letter_queue
from chime_kit.telemetry import service_version

if TYPE_CHECKING:
    from chime_kit.runtime import Runtime

PROCESS_STARTED = time.time()
# Each probe gives up after this long: the view must answer while a dependency hangs.
PROBE_SECONDS = 2.0
Section = Callable[[], Awaitable[dict[str, Any]]]


async def _timed(probe: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            found = await probe()
        ok = True
    except Exception as exc:  # the view reports a failure, it never fails itself
        found, ok = {"error": f"{type(exc).__name__}: {exc}"[:300]}, False
    return {"ok": ok, "latency_ms": round((time.perf_counter() - started) * 1000, 2), **found}


async def postgres(runtime: Runtime) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT current_setting('server_version') AS version,"
                " (SELECT count(*) FROM outbox) AS pending,"
                " coalesce(extract(epoch FROM now() - (SELECT min(created_at) FROM outbox)), 0)"
                "::float8 AS oldest"
            )
        assert row is not None
        return {
            "server_version": row["version"],
            "outbox": {"pending": row["pending"], "oldest_seconds": round(row["oldest"], 3)},
        }

    pool = runtime.pool
    figures = await _timed(probe)
    figures["pool"] = {
        "size": pool.get_max_size(),
        "open": pool.get_size(),
        "in_use": pool.get_size() - pool.get_idle_size(),
        "waiting": getattr(pool, "waiting", 0),
    }
    return figures


async def rabbitmq(runtime: Runtime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The broker's answer time and each queue's depth, by passive declarations (a queue
    that does not exist yet reads as missing, not as an error)."""
    queues: list[dict[str, Any]] = []

    async def probe() -> dict[str, Any]:
        connection = runtime.broker.connection or runtime.relay.connection
        if connection is None:
            raise ConnectionError("no connection to RabbitMQ")
        channel = await connection.channel()
        try:
            for name in runtime.queues:
                queue = await _depth(channel, name)
                dead = await _depth(channel, dead_letter_queue(name))
                queues.append({**queue, "dead_letters": dead.get("messages")})
                if channel.is_closed:  # a missing queue closes the channel
                    channel = await connection.channel()
        finally:
            if not channel.is_closed:
                await channel.close()
        return {}

    figures = await _timed(probe)
    figures["relay_connected"] = runtime.relay.connected
    return figures, queues


async def _depth(channel: Any, name: str) -> dict[str, Any]:
    try:
        declared = await channel.declare_queue(name, passive=True)
    except Exception:
        return {"name": name, "missing": True}
    result = declared.declaration_result
    return {"name": name, "messages": result.message_count, "consumers": result.consumer_count}


def in_flight(runtime: Runtime) -> dict[str, Any]:
    now = datetime.now(UTC)
    held = {}
    for queue in runtime.queues:
        tracker = runtime.in_flight(queue)
        oldest = tracker.watermark()
        held[queue] = {
            "messages": tracker.count(),
            "oldest_event_age_seconds": round((now - oldest).total_seconds(), 3)
            if oldest
            else None,
        }
    return held


def loops(runtime: Runtime) -> list[dict[str, Any]]:
    return [
        {
            "name": loop.name,
            "running": loop.running,
            "ready": loop.ready,
            "wedged": loop.wedged,
            "failures": loop.failures,
            "last_error": getattr(loop, "last_error", None) if loop.failures else None,
        }
        for loop in runtime.loops
    ]


def process() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "max_rss_bytes": usage.ru_maxrss * 1024,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
    }


async def details(runtime: Runtime) -> dict[str, Any]:
    """Everything above, gathered concurrently; `status` is "ok" or "degraded"."""
    (database, (broker, queues)), sections = await asyncio.gather(
        asyncio.gather(postgres(runtime), rabbitmq(runtime)),
        asyncio.gather(*(_timed(section) for section in runtime.sections.values())),
    )
    outbox = database.pop("outbox", None)
    loop_states = loops(runtime)
    healthy = (
        database["ok"]
        and broker["ok"]
        and broker["relay_connected"]
        and all(loop["ready"] and not loop["wedged"] for loop in loop_states)
    )
    now = time.time()
    return {
        "service": runtime.service,
        "version": service_version(runtime.service),
        "status": "ok" if healthy else "degraded",
        "time": datetime.fromtimestamp(now, UTC).isoformat(),
        "started_at": datetime.fromtimestamp(PROCESS_STARTED, UTC).isoformat(),
        "uptime_seconds": round(now - PROCESS_STARTED, 1),
        "dependencies": {"postgres": database, "rabbitmq": broker},
        "outbox": outbox,
        "queues": queues,
        "in_flight": in_flight(runtime),
        "loops": loop_states,
        "process": process(),
        **dict(zip(runtime.sections, sections, strict=True)),
    }
