"""One scheduler replica's firing, as a process of its own (run by the concurrency tests).

Usage: python firing_process.py DATABASE_URL SECONDS BATCH [IDLE]
Fires until SECONDS have passed (or, given IDLE, until it found nothing due for IDLE
seconds), then prints how many occurrences it fired.
"""

import asyncio
import sys
import time

from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings


async def main(database_url: str, seconds: float, batch: int, idle: float | None) -> None:
    scheduler = await create_service(
        SchedulerSettings(database_url=database_url, fire_batch_size=batch, migrate_on_start=False)
    )
    deadline = time.monotonic() + seconds
    fired = 0
    busy = time.monotonic()
    try:
        while time.monotonic() < deadline:
            n = await scheduler.firing.fire_once()
            fired += n
            if n:
                busy = time.monotonic()
            elif idle is not None and time.monotonic() - busy > idle:
                break
            else:
                await asyncio.sleep(0.02)
    finally:
        await scheduler.runtime.pool.close()
    print(fired, flush=True)


if __name__ == "__main__":
    idle = float(sys.argv[4]) if len(sys.argv) > 4 else None
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), idle))
