"""Bot pools as operators see them: each worker's load, as a metric and in the CLI."""

from __future__ import annotations

from chime_ingest.adapters.pools import PostgresPools
from chime_ingest.domain.pools import Pools
from chime_ingest.metrics import POOL_CHATS
from chime_ingest.ports import PoolLoad
from chime_kit.db import Connection
from chime_kit.loops import BackgroundLoop
from chime_kit.runtime import Runtime


async def pool_loads(conn: Connection, pools: Pools) -> list[PoolLoad]:
    """Every configured worker's load (0 for one never assigned a chat), and the load of any
    bot that chats are still assigned to but is no longer configured."""
    found = {(load.pool, load.bot_id): load for load in await PostgresPools(conn).all_loads()}
    for pool in pools.pools:
        for bot in pool.workers:
            found.setdefault((pool.name, bot), PoolLoad(pool.name, bot, 0, 0))
    return [found[key] for key in sorted(found)]


def lines(loads: list[PoolLoad], pools: Pools) -> list[str]:
    """What `python -m chime_ingest pools` prints: per pool, each bot's chats and share."""
    out: list[str] = []
    for name in dict.fromkeys(load.pool for load in loads):
        of_pool = [load for load in loads if load.pool == name]
        total = sum(load.chats for load in of_pool)
        pool = pools.named(name)
        front = f" (front bot {pool.front})" if pool else " (no longer configured)"
        out.append(f"pool {name}{front}: {total} chats")
        for load in of_pool:
            share = f"{100 * load.chats / total:.1f}%" if total else "-"
            worker = pool is not None and load.bot_id in pool.workers
            note = "" if worker else "  (not a worker of the pool now)"
            out.append(
                f"  bot {load.bot_id}: {load.chats} chats ({share}),"
                f" {load.confirmed} started it{note}"
            )
    return out


def pool_gauge(runtime: Runtime, pools: Pools, interval: float = 15.0) -> BackgroundLoop:
    """Sets `chime_ingest_pool_chats` from the projection now and every `interval` seconds
    (from committed rows, so a rolled-back assignment never shows)."""

    async def run() -> None:
        while True:
            loop.clear()
            async with runtime.pool.acquire() as conn:
                loads = await pool_loads(conn, pools)
            for load in loads:
                POOL_CHATS.labels(load.pool, str(load.bot_id)).set(load.chats)
            await loop.sleep(interval)

    loop = runtime.watch(BackgroundLoop("ingest-pool-gauge", run))
    return loop
