"""The running sender: bootstrap's dependencies, its consumers, heartbeat and delivery loop."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from chime_kit.db import DATABASE_ERRORS
from chime_kit.runtime import Runtime
from chime_sender.bootstrap import Dependencies, build
from chime_sender.entrypoints.consumers import QUEUES, build_router
from chime_sender.entrypoints.delivery import DeliveryLoop
from chime_sender.entrypoints.heartbeat import Heartbeat
from chime_sender.settings import SenderSettings


@dataclass
class Sender:
    deps: Dependencies
    delivery: DeliveryLoop
    heartbeat: Heartbeat
    stop_grace_seconds: float = 20.0

    @property
    def runtime(self) -> Runtime:
        return self.deps.runtime

    async def start(self) -> None:
        await self.runtime.start()
        await self.heartbeat.start()
        await self.delivery.start()

    async def stop(self) -> None:
        await self.delivery.stop(self.stop_grace_seconds)
        with contextlib.suppress(*DATABASE_ERRORS):  # a dead instance is swept by the others
            await self.heartbeat.stop()
        await self.deps.close()


async def create_service(settings: SenderSettings) -> Sender:
    deps = await build(settings)
    runtime, sending = deps.runtime, deps.sending
    runtime.broker.include_router(build_router(runtime))
    sending.local.in_flight = tuple(runtime.in_flight(queue) for queue in QUEUES)
    heartbeat = Heartbeat(
        runtime,
        sending,
        name=settings.instance_name,
        interval=settings.heartbeat_seconds,
        fence=settings.call_fence_seconds,
        dead_after=settings.dead_after_seconds,
    )
    sending.local.may_call = heartbeat.may_call
    delivery = DeliveryLoop(
        runtime,
        sending,
        heartbeat=heartbeat,
        batch_size=settings.claim_batch_size,
        concurrency=settings.send_concurrency,
        lease_seconds=settings.lease_seconds,
        max_idle_seconds=settings.max_idle_seconds,
        recheck_seconds=settings.recheck_seconds,
        settle_linger_seconds=settings.settle_linger_seconds,
    )
    grace = settings.telegram_timeout_seconds + settings.telegram_connect_timeout_seconds
    return Sender(deps, delivery, heartbeat, stop_grace_seconds=grace)
