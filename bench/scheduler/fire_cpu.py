"""CPU per fire of the scheduler's firing alone: no relay, no broker, one process.

Usage:
    uv run python bench/scheduler/fire_cpu.py [--due 10000] [--background 0] [--lead 45]

Loads `--background` live schedules and `--due` ones falling due in a 10-second window
`--lead` seconds ahead (the `scale.py` workload, through the bulk loader), waits for the
window to pass, then fires everything due with the service's own firing loop
(`fire_until_idle`: claims, streams, projection, outbox) and prints the process's CPU per
fire and the outbox rows it left. Run it under `py-spy record` to see where a fire goes.
A database and a vhost of the run's own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chime_scheduler.adapters.bulk import load_schedules
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import CHUNK, scheduler_database  # noqa: E402
from workload import background, due  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    async with scheduler_database() as (env, pool):
        now = datetime.now(UTC)
        at = now + timedelta(seconds=args.lead)
        async with pool.acquire() as c, c.transaction():
            await load_schedules(c, due(10_000_000, args.due, at, 10, now))
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, args.background, CHUNK):
            async with pool.acquire() as c, c.transaction():
                await load_schedules(c, background(start, min(CHUNK, args.background - start), now))
        if args.background:
            cpu = time.process_time() - cpu
            print(f"loaded {args.background:,} background schedules in"
                  f" {time.perf_counter() - wall:.1f}s, {1e6 * cpu / args.background:.0f} µs"
                  " of CPU each")  # fmt: skip
        await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds() + 11))
        scheduler = await create_service(SchedulerSettings(
            database_url=env.dsn, amqp_url=env.amqp_url, migrate_on_start=False, log_json=False,
        ))  # fmt: skip
        gc.freeze()  # as the running service does once started
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            fired = await scheduler.firing.fire_until_idle()
            cpu = time.process_time() - cpu
            async with scheduler.runtime.pool.acquire() as c:
                rows = await c.fetchval("SELECT count(*) FROM outbox")
        finally:
            await scheduler.runtime.pool.close()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        per_fire = 1e3 * cpu / max(fired, 1)
        print(f"fired {fired:,} in {time.perf_counter() - wall:.1f}s: {per_fire:.3f}"
              f" ms of CPU per fire (firing only, no relay); {rows:,} outbox rows;"
              f" load average {load}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--background", type=int, default=0)
    parser.add_argument("--lead", type=float, default=45.0)
    asyncio.run(main(parser.parse_args()))
