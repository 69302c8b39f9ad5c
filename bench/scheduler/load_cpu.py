"""CPU per schedule of the bulk loader alone: one process, one database of its own.

Usage:
    uv run python bench/scheduler/load_cpu.py [--schedules 50000] [--profile out.prof]

Builds the requests of `--schedules` of the `scale.py` background workload 20,000 at a time
(timed apart: that is the bench's own cost, not the loader's) and loads each chunk through
`adapters/bulk.py` in a transaction; prints the process's CPU per schedule for each part.
`--profile` writes a cProfile of the loading alone. The PostgreSQL server process serving
the loader (on the same machine) is timed too: COPY parsing the rows and their jsonb, the
indexes, WAL. A database and a vhost of the run's own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from chime_scheduler.adapters.bulk import load_schedules
from chime_scheduler.domain.schedules import NextOccurrences

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import CHUNK, scheduler_database  # noqa: E402
from workload import background  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process of this machine has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(args: argparse.Namespace) -> None:
    async with scheduler_database() as (_env, pool):
        now = datetime.now(UTC)
        profile = cProfile.Profile() if args.profile else None
        built = loaded = wall = 0.0
        created = 0
        occurrences = NextOccurrences()  # shared by the chunks, as `scale.py`'s loaders do
        async with pool.acquire() as c:  # the pool's one connection: its server process
            backend = await c.fetchval("SELECT pg_backend_pid()")
        server = cpu_seconds(backend)
        try:
            for start in range(0, args.schedules, CHUNK):
                cpu = time.process_time()
                requests = list(background(start, min(CHUNK, args.schedules - start), now))
                built += time.process_time() - cpu
                cpu, began = time.process_time(), time.perf_counter()
                if profile:
                    profile.enable()
                async with pool.acquire() as c, c.transaction():
                    created += (await load_schedules(c, requests, occurrences))[0]
                if profile:
                    profile.disable()
                loaded += time.process_time() - cpu
                wall += time.perf_counter() - began
        finally:
            if profile:
                profile.dump_stats(args.profile)
        server = cpu_seconds(backend) - server
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        n = args.schedules
        print(f"built {n:,} requests: {1e6 * built / n:.0f} µs of CPU each (the bench's own);"
              f" loaded {created:,} created in {wall:.1f}s ({n / wall:,.0f}/s):"
              f" {1e6 * loaded / n:.0f} µs of the loader's CPU each,"
              f" {1e6 * server / n:.0f} µs of its PostgreSQL server process's;"
              f" load average {load}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=50_000)
    parser.add_argument("--profile", default="")
    asyncio.run(main(parser.parse_args()))
