"""The running scheduler: bootstrap's dependencies, its consumers and its firing loop."""

from __future__ import annotations

from dataclasses import dataclass

from chime_kit.runtime import Runtime
from chime_scheduler.bootstrap import Dependencies, build
from chime_scheduler.entrypoints.consumers import build_router
from chime_scheduler.entrypoints.firing import FiringLoop
from chime_scheduler.settings import SchedulerSettings


@dataclass
class Scheduler:
    deps: Dependencies
    firing: FiringLoop

    @property
    def runtime(self) -> Runtime:
        return self.deps.runtime

    async def start(self) -> None:
        await self.runtime.start()
        await self.firing.start()

    async def stop(self) -> None:
        await self.firing.stop()
        await self.deps.close()


async def create_service(settings: SchedulerSettings) -> Scheduler:
    deps = await build(settings)
    deps.runtime.broker.include_router(build_router(deps.runtime, deps.store))
    return Scheduler(deps, FiringLoop(deps.runtime, settings, deps.store))
