"""The api's composition root."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import httpx

from chime_api.adapters.limits import unflushed
from chime_api.domain.keys import Limits
from chime_api.entrypoints.consumers import build_router
from chime_api.entrypoints.loops import purge_loop, usage_loop, webhook_loop
from chime_api.handlers.idempotency import Policy
from chime_api.handlers.usage import UsageCounter
from chime_api.history.entrypoints.consumers import history_router
from chime_api.history.entrypoints.loops import maintenance_loop, prepare_partitions
from chime_api.settings import ApiSettings
from chime_kit.db import create_pool
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime, open_runtime

SERVICE = "api"
MIGRATIONS = "chime_api.migrations"


@dataclass
class Api:
    runtime: Runtime
    settings: ApiSettings
    usage: UsageCounter
    limits_pool: asyncpg.Pool  # authentication and rate limits (commits not flushed)
    http: httpx.AsyncClient
    loops: list[BackgroundLoop]

    @property
    def default_limits(self) -> Limits:
        return Limits(self.settings.rate_per_second, self.settings.rate_burst)

    @property
    def idempotency(self) -> Policy:
        return Policy(self.settings.idempotency_wait_seconds, self.settings.idempotency_ttl)

    async def start(self) -> None:
        await self.runtime.start()
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        for loop in self.loops:
            await loop.stop()
        async with self.runtime.pool.acquire() as conn:
            await self.usage.flush(conn)
        await self.http.aclose()
        await self.limits_pool.close()
        await self.runtime.stop()


async def build(settings: ApiSettings) -> Api:
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    runtime.broker.include_router(build_router(runtime))
    runtime.broker.include_router(history_router(runtime))
    await prepare_partitions(runtime, settings)
    usage = UsageCounter()
    http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
    limits_pool = await create_pool(
        unflushed(settings.database_url.get_secret_value()),
        SERVICE,
        min_size=1,
        max_size=settings.db_pool_max,
        acquire_timeout=settings.db_acquire_timeout_seconds,
        command_timeout=settings.db_command_timeout_seconds,
    )
    loops = [
        purge_loop(runtime, settings),
        usage_loop(runtime, usage),
        webhook_loop(runtime, http),
        maintenance_loop(runtime, settings),
    ]
    return Api(runtime, settings, usage, limits_pool, http, loops)
