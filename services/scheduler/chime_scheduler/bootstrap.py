"""The scheduler's composition root."""

from __future__ import annotations

from dataclasses import dataclass

from chime_kit.runtime import Runtime, open_runtime
from chime_scheduler.entrypoints.consumers import build_router
from chime_scheduler.entrypoints.firing import FiringLoop
from chime_scheduler.settings import SchedulerSettings


@dataclass
class Scheduler:
    runtime: Runtime
    firing: FiringLoop

    async def start(self) -> None:
        await self.runtime.start()
        await self.firing.start()

    async def stop(self) -> None:
        await self.firing.stop()
        await self.runtime.stop()


async def build(settings: SchedulerSettings) -> Scheduler:
    runtime = await open_runtime("scheduler", settings, "chime_scheduler.migrations")
    runtime.broker.include_router(build_router(runtime))
    return Scheduler(runtime, FiringLoop(runtime, settings))
