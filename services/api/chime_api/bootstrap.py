"""The api's dependencies, built once per process; `entrypoints/service.py` runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx

from chime_api.adapters.limits import no_session_state, unflushed
from chime_api.domain.keys import Limits
from chime_api.handlers.idempotency import Policy
from chime_api.handlers.usage import UsageCounter
from chime_api.settings import ApiSettings
from chime_kit.db import create_pool
from chime_kit.runtime import Runtime, open_runtime
from chime_kit.unit_of_work import UnitOfWork, unit_of_work

SERVICE = "api"
MIGRATIONS = "chime_api.migrations"


@dataclass
class Dependencies:
    runtime: Runtime  # pool, unit of work, broker, outbox relay
    settings: ApiSettings
    usage: UsageCounter
    # Authentication and rate limits (commits not flushed), and the hot path's reads: single
    # statements leaving no session state, so a released connection is not reset.
    limits_pool: asyncpg.Pool
    # The routes' transactions (every POST through `respond_once`): commits flushed as the
    # runtime's, but no reset on release (their statements leave no session state: no SET
    # but SET LOCAL, no LISTEN, cursor or session lock), a round trip fewer per request.
    writes_pool: asyncpg.Pool
    http: httpx.AsyncClient  # outgoing webhooks

    @property
    def default_limits(self) -> Limits:
        return Limits(self.settings.rate_per_second, self.settings.rate_burst)

    @property
    def idempotency(self) -> Policy:
        return Policy(self.settings.idempotency_wait_seconds, self.settings.idempotency_ttl)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """A route's transaction on the writes pool; what it emits wakes the outbox relay."""
        async with unit_of_work(
            self.writes_pool, SERVICE, after_commit=self.runtime.relay.wake
        ) as uow:
            yield uow

    async def close(self) -> None:
        async with self.runtime.pool.acquire() as conn:
            await self.usage.flush(conn)
        await self.http.aclose()
        await self.limits_pool.close()
        await self.writes_pool.close()
        await self.runtime.stop()


async def build(settings: ApiSettings) -> Dependencies:
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    usage = UsageCounter()
    http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
    url = settings.database_url.get_secret_value()

    async def pool_without_reset(dsn: str, max_size: int) -> asyncpg.Pool:
        return await create_pool(
            dsn, SERVICE, min_size=1, max_size=max_size,
            acquire_timeout=settings.db_acquire_timeout_seconds,
            command_timeout=settings.db_command_timeout_seconds, reset=no_session_state,
        )  # fmt: skip

    limits_pool = await pool_without_reset(unflushed(url), settings.db_pool_max)
    writes_pool = await pool_without_reset(url, settings.db_writes_pool_max)
    return Dependencies(runtime, settings, usage, limits_pool, writes_pool, http)
