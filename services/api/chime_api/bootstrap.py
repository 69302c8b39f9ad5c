"""The api's composition root."""

from __future__ import annotations

from dataclasses import dataclass

from chime_api.domain.keys import Limits
from chime_api.entrypoints.consumers import build_router
from chime_api.entrypoints.loops import purge_loop, usage_loop
from chime_api.handlers.idempotency import Policy
from chime_api.handlers.usage import UsageCounter
from chime_api.history.entrypoints.consumers import history_router
from chime_api.history.entrypoints.loops import maintenance_loop, prepare_partitions
from chime_api.settings import ApiSettings
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime, open_runtime

SERVICE = "api"
MIGRATIONS = "chime_api.migrations"


@dataclass
class Api:
    runtime: Runtime
    settings: ApiSettings
    usage: UsageCounter
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
        await self.runtime.stop()


async def build(settings: ApiSettings) -> Api:
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    runtime.broker.include_router(build_router(runtime))
    runtime.broker.include_router(history_router(runtime))
    await prepare_partitions(runtime, settings)
    usage = UsageCounter()
    loops = [purge_loop(runtime, settings), usage_loop(runtime, usage)]
    loops.append(maintenance_loop(runtime, settings))
    return Api(runtime, settings, usage, loops)
