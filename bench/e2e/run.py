"""Update-to-delivery latency through the whole platform, each service its own process.

    uv run python bench/e2e/run.py [--rate 100] [--seconds 20] [--bots 10]

New users send /start at a fixed rate (open loop: sends are scheduled by the clock, not by
answers), spread over several bots so that no Telegram limit applies; the latency of each is
from the moment the emulator was asked to deliver the update to the moment the bot's reply
reached the emulator: webhook, ingest's commit and 200, the outbox relay, ingest's
interpretation, the relay again, the sender's consume and its Telegram call. Target: p99 <
500 ms when nothing is rate-limited. Runs in a database and vhost of its own, on free ports.

Beside the latencies it prints the CPU each process used per update in the measured window
(from the first send to the last reply) and the bus messages per update (the vhost's
publish and deliver counts); `account.py` says how the shared PostgreSQL and RabbitMQ are
split. `--profile DIR` also runs py-spy on ingest, the sender and the api for the window (its
sampling costs CPU, so take the CPU table from a run without it) and prints their top
self-time frames.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote, urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from account import Accountant, Row, profile, rows, top_self  # noqa: E402
from stack import AMQP, DEFAULT_PORTS, POSTGRES, Stack, create_database  # noqa: E402

from chime_kit.testing import free_port  # noqa: E402

RABBITMQ_API = os.environ.get("CHIME_BENCH_RABBITMQ_API", "http://127.0.0.1:15672")
RABBITMQ_AUTH = ("guest", "guest")


def token(n: int) -> str:
    return f"{9_100_000 + n}:AAChimeBenchE2EToken{n:04d}xxxxxxxxxxxxx"


async def make_vhost(name: str) -> str:
    async with httpx.AsyncClient(base_url=RABBITMQ_API, auth=RABBITMQ_AUTH) as client:
        (await client.put(f"/api/vhosts/{name}")).raise_for_status()
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        (await client.put(f"/api/permissions/{name}/guest", json=permissions)).raise_for_status()
    return AMQP.rstrip("/") + "/" + quote(name, safe="")


async def drop(database: str, vhost: str) -> None:
    async with httpx.AsyncClient(base_url=RABBITMQ_API, auth=RABBITMQ_AUTH) as client:
        await client.delete(f"/api/vhosts/{vhost}")
    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def load(stack: Stack, client: httpx.AsyncClient, rate: float, seconds: float, bots: int,
               first_chat: int) -> dict[tuple[int, int], float]:  # fmt: skip
    emulator = stack.url("emulator")
    asked: dict[tuple[int, int], float] = {}
    tasks = []
    total = int(rate * seconds)
    start = time.perf_counter()

    async def send(bot_id: int, chat_id: int) -> None:
        asked[(bot_id, chat_id)] = time.time()
        response = await client.post(
            f"{emulator}/_emulator/messages",
            json={"bot_id": bot_id, "chat_id": chat_id, "text": "/start"},
        )
        response.raise_for_status()

    for i in range(total):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        bot_id = int(token(i % bots).split(":")[0])
        tasks.append(asyncio.create_task(send(bot_id, first_chat + i)))
    await asyncio.gather(*tasks)
    return asked


async def replies(
    stack: Stack, client: httpx.AsyncClient, bots: int
) -> dict[tuple[int, int], float]:
    found: dict[tuple[int, int], float] = {}
    for n in range(bots):
        bot_id = int(token(n).split(":")[0])
        sent = await client.get(f"{stack.url('emulator')}/_emulator/bots/{bot_id}/sent")
        for message in sent.json()["messages"]:
            found.setdefault((bot_id, message["chat"]["id"]), message["sent_at"])
    return found


async def measure(stack: Stack, client: httpx.AsyncClient, args: argparse.Namespace,
                  first_chat: int) -> list[float]:  # fmt: skip
    """Latencies in seconds; returns once every user has had its reply."""
    asked = await load(stack, client, args.rate, args.seconds, args.bots, first_chat)
    deadline = time.monotonic() + 120
    while True:
        got = await replies(stack, client, args.bots)
        if all(key in got for key in asked) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    missing = [key for key in asked if key not in got]
    if missing:
        raise SystemExit(f"{len(missing)} of {len(asked)} users got no reply")
    return [got[key] - asked[key] for key in asked]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="updates per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--bots", type=int, default=10)
    parser.add_argument("--profile", type=Path, help="py-spy ingest, sender and api into this dir")
    args = parser.parse_args()

    name = f"chime_bench_{uuid.uuid4().hex[:8]}"
    await create_database(name)
    amqp_url = await make_vhost(name)
    stack = Stack(
        token(0), real_telegram=False, more_tokens=tuple(token(n) for n in range(1, args.bots)),
        postgres=POSTGRES, database=name, amqp_url=amqp_url, log_level="WARNING",
        logs=ROOT / ".run" / "logs", cwd=ROOT,
        ports={service: free_port() for service in DEFAULT_PORTS},
    )  # fmt: skip
    stack.start()
    accountant = Accountant(RABBITMQ_API, RABBITMQ_AUTH, name, f"{POSTGRES}/{name}")
    try:
        # An idle connection is not reused after a second: the emulator's server closes idle
        # ones after five, and a request sent on one it is closing fails (a busy machine can
        # pause that long between two sends on one connection).
        limits = httpx.Limits(
            max_connections=200, max_keepalive_connections=200, keepalive_expiry=1.0
        )
        async with httpx.AsyncClient(timeout=30, limits=limits) as client, accountant:
            await stack.wait_ready(client)
            warm = argparse.Namespace(rate=20.0, seconds=2.0, bots=args.bots)
            await measure(stack, client, warm, first_chat=1)
            await accountant.settle()
            before = await accountant.snapshot()
            spies = {}
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for service in ("ingest", "sender", "api"):
                    out = args.profile / f"{service}.txt"
                    pid = stack.processes[service].pid
                    spies[service] = (out, profile(pid, args.seconds, out))
            watching = asyncio.create_task(accountant.watch())
            latencies = await measure(stack, client, args, first_chat=1_000_000)
            after = await accountant.snapshot()
            # The management API's counts lag by up to a sampling interval (5 s): the other
            # vhosts are read one interval after the window, the bench's once it went still.
            await asyncio.sleep(5)
            watching.cancel()
            after.vhosts = await accountant.final_vhosts()
            await accountant.settle()
            after.vhosts[name] = (await accountant.vhost_stats())[name]
            for _, spy in spies.values():
                spy.wait()
            stats = (await client.get(f"{stack.url('emulator')}/_emulator/stats")).json()
        own = {name: process.pid for name, process in stack.processes.items()}
        own["load generator"] = os.getpid()
        cpu, notes = rows(before, after, own, name, urlsplit(AMQP).port or 5672)
    finally:
        stack.stop()
        await drop(name, name)

    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    pg_version = await conn.fetchval("SHOW server_version")
    await conn.close()
    ms = [x * 1000 for x in latencies]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    print("conditions:")
    print(f"  date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  machine     {os.cpu_count()} CPUs, {platform.machine()}, load {os.getloadavg()}")
    print(f"  python      {platform.python_version()}, postgresql {pg_version}")
    print(f"  libraries   aio-pika {version('aio-pika')},"
          f" asyncpg {version('asyncpg')}, fastapi {version('fastapi')}")  # fmt: skip
    print(f"  workload    {len(ms)} new users sending /start at {args.rate:g}/s for"
          f" {args.seconds:g} s over {args.bots} bots; emulator, 4 services, PostgreSQL,"
          " RabbitMQ and this load generator share the machine")  # fmt: skip
    print(f"  telegram    {stats['rejected_429']} answers 429 (nothing should be rate-limited)")
    print("update-to-delivery latency:")
    print(f"  p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   p99 {p99:7.1f} ms")
    print(f"  max {max(ms):7.1f} ms   mean {statistics.mean(ms):7.1f} ms")
    verdict = "meets" if p99 < 500 else "misses"
    print(f"  target p99 < 500 ms: {verdict}")
    window = after.at - before.at
    report_cpu(cpu, notes, len(ms), window, after.busy - before.busy)
    empty: dict[str, int] = {}
    ours_before, ours_after = before.vhosts.get(name, empty), after.vhosts.get(name, empty)
    print("bus messages per update (the bench vhost's counts over the window):")
    print("  " + "   ".join(
        f"{kind} {(ours_after.get(kind, 0) - ours_before.get(kind, 0)) / len(ms):.2f}"
        for kind in ("publish", "confirm", "deliver_get", "ack", "redeliver")
    ))  # fmt: skip
    for service, (out, _) in spies.items():
        samples, frames = top_self(out)
        print(f"{service}: top self-time frames of {samples} busy samples at 100/s ({out}):")
        for frame, share in frames:
            print(f"  {share:6.1%}  {frame}")


def report_cpu(cpu: list[Row], notes: list[str], updates: int, window: float,
               busy: float) -> None:  # fmt: skip
    print(f"CPU per update ({updates} updates, window {window:.1f} s from first send to last"
          " reply; /proc utime+stime):")  # fmt: skip
    print(f"  {'process':26} {'CPU s':>7} {'ms/update':>10} {'cores':>6}")
    for row in [*cpu, Row("total", sum(r.seconds for r in cpu))]:
        print(f"  {row.name:26} {row.seconds:7.2f} {row.seconds / updates * 1000:10.2f}"
              f" {row.seconds / window:6.2f}  {row.note}")  # fmt: skip
    print(f"  machine, every process     {busy:7.2f} {'':10} {busy / window:6.2f}"
          "  (other work on the machine included)")  # fmt: skip
    for note in notes:
        print(f"  {note}")


if __name__ == "__main__":
    asyncio.run(main())
