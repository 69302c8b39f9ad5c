"""One scheduler replica's firing, as a process of its own (run by the concurrency tests).

Usage: python firing_process.py DATABASE_URL SECONDS BATCH
Fires until SECONDS have passed, then prints how many occurrences it fired.
"""

import asyncio
import sys
import time

from chime_scheduler.bootstrap import build
from chime_scheduler.settings import SchedulerSettings


async def main(database_url: str, seconds: float, batch: int) -> None:
    scheduler = await build(
        SchedulerSettings(database_url=database_url, fire_batch_size=batch, migrate_on_start=False)
    )
    deadline = time.monotonic() + seconds
    fired = 0
    try:
        while time.monotonic() < deadline:
            n = await scheduler.firing.fire_once()
            fired += n
            if not n:
                await asyncio.sleep(0.02)
    finally:
        await scheduler.runtime.pool.close()
    print(fired, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
