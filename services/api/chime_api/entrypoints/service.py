"""The running api: bootstrap's dependencies, its consumers and its background loops (the
HTTP routes are `app.py`'s)."""

from __future__ import annotations

from dataclasses import dataclass

from chime_api.bootstrap import Dependencies, build
from chime_api.entrypoints.consumers import build_router
from chime_api.entrypoints.loops import purge_loop, usage_loop, webhook_loop
from chime_api.history.entrypoints.loops import maintenance_loop, prepare_partitions
from chime_api.settings import ApiSettings
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime


@dataclass
class Api:
    deps: Dependencies
    loops: list[BackgroundLoop]

    @property
    def runtime(self) -> Runtime:
        return self.deps.runtime

    @property
    def settings(self) -> ApiSettings:
        return self.deps.settings

    async def start(self) -> None:
        await self.runtime.start()
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        for loop in self.loops:
            await loop.stop()
        await self.deps.close()


async def create_service(settings: ApiSettings) -> Api:
    deps = await build(settings)
    runtime = deps.runtime
    runtime.broker.include_router(build_router(runtime))
    await prepare_partitions(runtime, settings)
    loops = [
        purge_loop(runtime, settings),
        usage_loop(runtime, deps.usage),
        webhook_loop(runtime, deps.http),
        maintenance_loop(runtime, settings),
    ]
    return Api(deps, loops)
