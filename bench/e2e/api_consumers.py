"""The api's share of an update on the e2e path, in process: CPU per update of its consumers.

    uv run python bench/e2e/api_consumers.py [--updates 2000] [--batch 10]

Feeds what one new user's `/start` makes the api consume (`user.started.v1`,
`message.received.v1`, `send.requested.v1` and the reply's `message.sent.v1.reply`) to the
api's real consumers, through the kit's in-process delivery (`Broker.deliver`: the consumer's
own code and a real database, no broker), in batches of `--batch` per queue, as a loaded
consumer takes them. Two shapes side by side, on the same events:

- **per projection**: each projection on its own queue (the api before one queue per event
  type: every message handed to each queue that binds it, each with its own transaction);
- **per event**: `chime_api.entrypoints.consumers.build_router`, one queue per event type.

CPU is this process's (`time.process_time`) plus the PostgreSQL backends of its pool
(`/proc/<pid>/stat` utime + stime), so it holds on a busy machine, unlike wall time; the
broker's and aio-pika's cost of each delivery is not in it (the e2e bench counts the
deliveries). Runs in a database of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from stack import POSTGRES, create_database  # noqa: E402

from chime_api.bootstrap import MIGRATIONS, SERVICE  # noqa: E402
from chime_api.entrypoints.consumers import build_router  # noqa: E402
from chime_api.history.adapters.partitions import maintain  # noqa: E402
from chime_contracts.envelope import Envelope, envelope_of  # noqa: E402
from chime_contracts.events import (  # noqa: E402
    MessageReceived,
    MessageSent,
    SendRequested,
    UserStarted,
)
from chime_contracts.events.shared import SendSource  # noqa: E402
from chime_kit.consumer import Router  # noqa: E402
from chime_kit.runtime import Runtime, open_runtime  # noqa: E402
from chime_kit.settings import ServiceSettings  # noqa: E402

BOT = 9_100_000
TICKS = os.sysconf("SC_CLK_TCK")
SHAPES = ("per projection", "per event")


class PerProjection:
    """Stands in for the runtime while the api's router is built: each route of a queue
    becomes a queue of its own, as the api consumed before."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def subscribe(self, router: Router, *, queue: str, event: type[Any], routes: Any,
                  **_: Any) -> None:  # fmt: skip
        for route in routes:
            self.runtime.subscribe(
                router, queue=route.inbox, event=event, handler=route.handler,
                binding=route.binding,
            )  # fmt: skip


def update(n: int) -> list[Envelope[Any]]:
    """What one new user's /start makes the api consume, in the order it arrives."""
    chat, now = 1_000_000 + n, datetime.now(UTC)
    delivery = f"{BOT}:{n}"
    source = SendSource(kind="reply", id=delivery)
    # fmt: off
    return [
        envelope_of(UserStarted(bot_id=BOT, chat_id=chat, user_id=chat), producer="ingest"),
        envelope_of(
            MessageReceived(
                bot_id=BOT,
                update_id=n,
                update_kind="message",
                chat_id=chat,
                chat_type="private",
                message_id=n,
                user_id=chat,
                content_type="text",
                text="/start",
                sent_at=now,
            ),
            producer="ingest",
        ),
        envelope_of(
            SendRequested(
                delivery_id=delivery,
                bot_id=BOT,
                chat_id=chat,
                text="Hi! Send me a reminder.",
                origin="ingest.reply",
                source=source,
            ),
            producer="ingest",
        ),
        envelope_of(
            MessageSent(
                delivery_id=delivery,
                bot_id=BOT,
                chat_id=chat,
                telegram_message_id=n,
                attempts=1,
                sent_at=now,
                source=source,
            ),
            producer="sender",
        ),
    ]


async def backend_seconds(pool: asyncpg.Pool, database: str) -> float:
    rows = await pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    return cpu_seconds([r["pid"] for r in rows])


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


async def run(shape: str, updates: int, batch: int) -> tuple[float, float, int]:
    database = f"chime_bench_api_{uuid.uuid4().hex[:8]}"
    await create_database(database)
    url = f"{POSTGRES}/{database}"
    settings = ServiceSettings(
        database_url=url, amqp_url="amqp://unused/", event_log_max_age=None,
        db_pool_min=1, db_pool_max=1,
    )  # fmt: skip
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    try:
        async with runtime.pool.acquire() as conn:
            await maintain(conn, datetime.now(UTC), 2, 2)
        target = runtime if shape == "per event" else PerProjection(runtime)
        runtime.broker.include_router(build_router(target))  # type: ignore[arg-type]
        events = [update(n) for n in range(updates)]
        deliveries = 0
        cpu0, pg0 = time.process_time(), await backend_seconds(runtime.pool, database)
        for start in range(0, updates, batch):
            chunk = events[start : start + batch]
            for kind in range(4):
                outcomes = await runtime.broker.deliver(*[u[kind] for u in chunk])
                deliveries += sum(len(o) for o in outcomes.values())
                assert all(x == "applied" for o in outcomes.values() for x in o), outcomes
        cpu, pg = time.process_time() - cpu0, await backend_seconds(runtime.pool, database) - pg0
        return cpu, pg, deliveries
    finally:
        await runtime.pool.close()
        conn = await asyncpg.connect(f"{POSTGRES}/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--shape", choices=SHAPES, help="only this shape (to profile it)")
    args = parser.parse_args()
    print(f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()}")
    print(f"{args.updates} updates, batches of {args.batch} per queue; CPU ms per update:")
    print(f"  {'shape':14} {'api':>7} {'postgres':>9} {'total':>7} {'deliveries':>11}")
    for shape in [args.shape] if args.shape else [*SHAPES, *SHAPES]:
        cpu, pg, deliveries = await run(shape, args.updates, args.batch)
        per = 1000 / args.updates
        print(f"  {shape:14} {cpu * per:7.2f} {pg * per:9.2f} {(cpu + pg) * per:7.2f}"
              f" {deliveries / args.updates:11.2f}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
