"""History's maintenance: partitions made ahead and dropped past the retention, on an
interval, by every replica (each step is idempotent; a lost race is retried next time)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg

from chime_api.history.adapters.partitions import maintain
from chime_api.settings import ApiSettings
from chime_kit.db import Connection
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime

log = logging.getLogger(__name__)


async def prepare_partitions(runtime: Runtime, settings: ApiSettings) -> None:
    """Before the consumers start: facts find their partitions from the first one on."""
    async with runtime.pool.acquire() as conn:
        await _maintain(conn, settings)


async def _maintain(conn: Connection, settings: ApiSettings) -> None:
    try:
        await maintain(
            conn,
            datetime.now(UTC),
            settings.history_retention_days,
            settings.history_partitions_ahead_days,
        )
    except (asyncpg.DuplicateTableError, asyncpg.ObjectInUseError) as exc:
        log.info("another replica is maintaining history partitions (%r)", exc)


def maintenance_loop(runtime: Runtime, settings: ApiSettings) -> BackgroundLoop:
    async def run() -> None:
        while True:
            loop.clear()
            async with runtime.pool.acquire() as conn:
                await _maintain(conn, settings)
            await loop.sleep(settings.history_maintenance_seconds)

    loop = runtime.watch(BackgroundLoop("api-history-partitions", run))
    return loop
