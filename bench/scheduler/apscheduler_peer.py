"""The same workload on APScheduler 3 (the engine of python-telegram-bot's JobQueue) with its
SQLAlchemy job store on the same PostgreSQL, publishing each fire to the same RabbitMQ.

Usage: uv run python bench/scheduler/apscheduler_peer.py [--jobs 20000] [--due 5000]
           [--window 10]

Jobs of mixed kinds and zones (daily cron lines, one-shots, cron lines with seconds), of
which `--due` fall in one `--window`-second window; each job publishes one message with a
publisher confirm when it runs. Printed: the time to add the jobs, fires/s from the window's
start to the last fire, lag (run time minus scheduled time) p50/p99/max, duplicates and
misses. Misfire grace is unlimited and coalescing on, so late jobs still run.
APScheduler 3 runs one scheduler per job store: a second process on the same store would
run jobs twice, so there is no two-replica figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aio_pika
import asyncpg
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workload import ZONES, minute_after

POSTGRES = os.environ.get("CHIME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBITMQ_AMQP = os.environ.get("CHIME_BENCH_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")

FIRED: Counter[str] = Counter()
LAGS: list[float] = []
FIRED_AT: list[float] = []
EXCHANGE: aio_pika.abc.AbstractExchange | None = None
DUE: dict[str, int] = {"left": 0}
ALL_DUE_FIRED = asyncio.Event()


async def fire(job_id: str, due: float) -> None:
    """One job's run: one message to the broker, confirmed, as the scheduler's fires are."""
    assert EXCHANGE is not None
    await EXCHANGE.publish(aio_pika.Message(job_id.encode()), routing_key="bench.peer")
    now = time.time()
    FIRED[job_id] += 1
    if due:
        LAGS.append(now - due)
        FIRED_AT.append(now)
        if FIRED[job_id] == 1:
            DUE["left"] -= 1
            if not DUE["left"]:
                ALL_DUE_FIRED.set()


def add_jobs(scheduler: AsyncIOScheduler, jobs: int, due: int, at: datetime, window: float
             ) -> None:  # fmt: skip
    rng = random.Random(1)
    now = datetime.now(UTC)
    for n in range(jobs):
        zone = ZoneInfo(ZONES[n % len(ZONES)])
        job_id, pick = f"j{n}", rng.random()
        if n < due:
            offset = timedelta(seconds=rng.random() * window)
            local = (at + offset).astimezone(zone)
            if pick < 0.4:
                trigger, when = DateTrigger(run_date=at + offset), at + offset
            elif pick < 0.7:
                trigger = CronTrigger(hour=at.astimezone(zone).hour,
                                      minute=at.astimezone(zone).minute, timezone=zone)  # fmt: skip
                when = at
            else:
                trigger = CronTrigger(hour=local.hour, minute=local.minute, second=local.second,
                                      timezone=zone)  # fmt: skip
                when = (at + offset).replace(microsecond=0)
            args = [job_id, when.timestamp()]
        else:
            if pick < 0.8:
                trigger = CronTrigger(hour=rng.randrange(24), minute=rng.randrange(60),
                                      timezone=zone)  # fmt: skip
            else:
                trigger = DateTrigger(
                    run_date=now + timedelta(hours=1, seconds=rng.randrange(86400))
                )
            args = [job_id, 0.0]
        scheduler.add_job(fire, trigger, args=args, id=job_id, misfire_grace_time=None,
                          coalesce=True)  # fmt: skip


async def main(jobs: int, due: int, window: float) -> None:
    global EXCHANGE
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    name = f"chime_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(POSTGRES)._replace(scheme="postgresql+psycopg", path=f"/{name}").geturl()
    connection = await aio_pika.connect_robust(RABBITMQ_AMQP)
    try:
        channel = await connection.channel(publisher_confirms=True)
        EXCHANGE = await channel.declare_exchange(f"bench.peer.{name}", auto_delete=True)
        queue = await channel.declare_queue(f"bench.peer.{name}", auto_delete=True)
        await queue.bind(EXCHANGE, "bench.peer")
        lead = 30 + jobs / 40  # it adds well under 100 jobs a second here
        at = minute_after(datetime.now(UTC) + timedelta(seconds=lead))
        scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=url)},
            executors={"default": AsyncIOExecutor()}, timezone=UTC,
        )  # fmt: skip
        started = time.perf_counter()
        DUE["left"] = due
        scheduler.start(paused=True)
        add_jobs(scheduler, jobs, due, at, window)
        added = time.perf_counter() - started
        left = (at - datetime.now(UTC)).total_seconds()
        cpu_at_start = time.process_time()
        scheduler.resume()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ALL_DUE_FIRED.wait(), timeout=max(left, 0) + 600)
        await asyncio.sleep(1)
        cpu = time.process_time() - cpu_at_start
        scheduler.shutdown(wait=False)
    finally:
        await connection.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    fired_due = [k for k in FIRED if int(k[1:]) < due]
    lags = sorted(LAGS)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load {load}")
    late = "" if left > 0 else " (after the window opened)"
    print(f"APScheduler 3 + SQLAlchemyJobStore: {jobs:,} jobs added in {added:.1f}s"
          f" ({jobs / added:,.0f}/s){late}")  # fmt: skip
    if lags:
        span = max(FIRED_AT) - at.timestamp()
        print(f"  {len(fired_due):,} of {due:,} due fired: {len(lags) / span:,.0f} fires/s from"
              f" the window's start to the last ({span:.1f}s)")  # fmt: skip
        print(f"  lag p50 {statistics.median(lags):.3f}s"
              f" p99 {lags[int(len(lags) * 0.99) - 1]:.3f}s max {lags[-1]:.3f}s")  # fmt: skip
    print(f"  CPU of the process from the start of firing: {cpu:.1f}s,"
          f" {1000 * cpu / max(len(FIRED), 1):.2f} ms per fire")  # fmt: skip
    print(f"  duplicates {sum(c - 1 for c in FIRED.values())}, misses {due - len(fired_due)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=5_000)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.due, args.window))
