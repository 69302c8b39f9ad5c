"""What every service runs on: pool, migrations, broker, outbox relay, telemetry.

Built by `open_runtime(...)` inside a service's lifespan, never at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

from chime_contracts.envelope import Envelope, Event
from chime_kit.broker import Broker, build_broker
from chime_kit.consumer import Consumer, Handler, Route, Router
from chime_kit.db import DATABASE_ERRORS, create_pool
from chime_kit.in_flight import InFlight
from chime_kit.loops import BackgroundLoop
from chime_kit.migrator import migrate
from chime_kit.relay import OutboxRelay
from chime_kit.settings import ServiceSettings
from chime_kit.telemetry import flush_tracing, setup_tracing
from chime_kit.unit_of_work import UnitOfWork, transaction, unit_of_work

E = TypeVar("E", bound=Event)


@dataclass
class Runtime:
    service: str
    settings: ServiceSettings
    pool: asyncpg.Pool
    broker: Broker
    relay: OutboxRelay
    queues: list[str] = field(default_factory=list)
    _in_flight: dict[str, InFlight] = field(default_factory=dict)
    loops: list[BackgroundLoop] = field(default_factory=list)
    # Sections a service adds to its detailed health view (`/health/details`).
    sections: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.watch(self.relay.loop)

    def watch(self, loop: BackgroundLoop) -> BackgroundLoop:
        """Let the probes see `loop`: one that keeps failing makes the process not ready,
        one that is wedged makes it not alive."""
        if loop not in self.loops:
            self.loops.append(loop)
        return loop

    def report(self, name: str, section: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Show `await section()` as `name` in the detailed health view (e.g. a lag)."""
        self.sections[name] = section

    def in_flight(self, queue: str) -> InFlight:
        """Event times of the messages of `queue` this process is applying right now."""
        return self._in_flight.setdefault(queue, InFlight())

    def unit_of_work(
        self, cause: Envelope[Any] | None = None
    ) -> AbstractAsyncContextManager[UnitOfWork]:
        return unit_of_work(self.pool, self.service, cause, after_commit=self.relay.wake)

    def subscribe(
        self,
        router: Router,
        *,
        queue: str,
        event: type[E],
        handler: Handler[E] | None = None,
        binding: str | None = None,
        routes: Sequence[Route[E]] = (),
        retired: Sequence[str] = (),
    ) -> None:
        """Consume `event` from `queue` with `handler` (`binding` narrows it, default: every
        refinement), or with several `routes` in one transaction per message. `retired`
        names queues the routes had before (as their inbox names): unbound, drained into
        this consumer, then deleted."""
        consumer = Consumer(
            binding=binding,
            service=self.service,
            queue=queue,
            event=event,
            handler=handler,
            routes=routes,
            retired=retired,
            transaction=lambda: transaction(self.pool, self.service, after_commit=self.relay.wake),
            delivery_limit=self.settings.delivery_limit,
            batch_size=self.settings.consumer_batch_size,
            in_flight=self.in_flight(queue),
        )
        router.consumers.append(consumer)
        self.queues.append(queue)

    async def start(self) -> None:
        await self.broker.start()  # declares each consumer's queue and dead-letter queue
        await self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
        await self.broker.stop()
        await close_pool(self.pool)
        # uvicorn ends the process with the SIGTERM it caught, so atexit hooks never run:
        # the spans still batched are written now.
        flush_tracing()

    async def readiness(self) -> dict[str, bool]:
        async def database() -> bool:
            try:
                async with asyncio.timeout(2):
                    return bool(await self.pool.fetchval("SELECT true"))
            except DATABASE_ERRORS:
                return False

        checks = {
            "postgres": await database(),
            "rabbitmq": await self.broker.ping(timeout=2.0),
            "outbox_relay": self.relay.connected,
        }
        # Only a failing loop is named, so a healthy service's checks stay the same.
        return checks | {f"loop {loop.name}": False for loop in self.loops if not loop.ready}

    def liveness(self) -> dict[str, bool]:
        """False for each loop that is wedged: only a restart of the process helps."""
        return {f"loop {loop.name}": False for loop in self.loops if loop.wedged}


POOL_CLOSE_SECONDS = 10.0


async def close_pool(pool: asyncpg.Pool, grace: float = POOL_CLOSE_SECONDS) -> None:
    """Close `pool` gracefully, or terminate its connections after `grace` seconds: a
    connection whose server went away (a database outage at shutdown) can keep a graceful
    close waiting for an answer that never comes, and a stopping process must end."""
    try:
        async with asyncio.timeout(grace):
            await pool.close()
    except TimeoutError:
        pool.terminate()


async def open_runtime(service: str, settings: ServiceSettings, migrations_package: str) -> Runtime:
    setup_tracing(service, settings)
    dsn = settings.database_url.get_secret_value()
    if settings.migrate_on_start:
        await run_migrations(dsn, service, migrations_package)
    pool = await create_pool(
        dsn,
        service,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        acquire_timeout=settings.db_acquire_timeout_seconds,
        command_timeout=settings.db_command_timeout_seconds,
    )
    amqp_url = settings.amqp_url.get_secret_value()
    return Runtime(
        service=service,
        settings=settings,
        pool=pool,
        broker=build_broker(amqp_url, prefetch=settings.consumer_prefetch),
        relay=OutboxRelay(
            pool,
            amqp_url,
            schema=service,
            batch_size=settings.relay_batch_size,
            idle_poll_seconds=settings.relay_idle_poll_seconds,
            rebalance_seconds=settings.relay_rebalance_seconds,
            event_log_max_age=settings.event_log_max_age,
        ),
    )


async def run_migrations(dsn: str, schema: str, migrations_package: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        applied: list[str] = await migrate(conn, schema, migrations_package)
        return applied
    finally:
        await conn.close()
