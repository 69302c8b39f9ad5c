"""The scheduler's dependencies, built once per process; `entrypoints/service.py` runs them."""

from __future__ import annotations

from dataclasses import dataclass

from chime_kit.runtime import Runtime, open_runtime
from chime_scheduler.adapters.postgres import PostgresStore
from chime_scheduler.ports import StoreOf
from chime_scheduler.settings import SchedulerSettings


@dataclass
class Dependencies:
    runtime: Runtime  # pool, unit of work, broker, outbox relay
    settings: SchedulerSettings
    store: StoreOf  # the repositories on a unit of work's connection

    async def close(self) -> None:
        await self.runtime.stop()


async def build(settings: SchedulerSettings) -> Dependencies:
    runtime = await open_runtime("scheduler", settings, "chime_scheduler.migrations")
    return Dependencies(runtime, settings, PostgresStore)
