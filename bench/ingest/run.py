"""Ingest's receive path under load: webhook requests of several bots, a realistic mix of
update kinds, each answered 200 once durably stored (group commit), then interpreted.

    uv run python bench/ingest/run.py [--updates 50000] [--concurrency 200] [--bots 10]
                                      [--chats 1000] [--rounds 1] [--workload mix|starts]
                                      [--profile DIR]

Ingest runs as its own process (`server.py`: the production app, uvicorn with uvloop and
httptools, plus POST /bench/empty answering 200 at once behind the same middleware); this
process is the load generator: `--concurrency` keep-alive connections, each sending its
next prebuilt request as soon as the last was answered (closed loop), on a minimal HTTP/1.1
client so that it stays cheap. Each round posts the same requests to /bench/empty (the
framework's ceiling) and then, with fresh update ids, to the webhooks, and prints
accepted/s, latency percentiles and the CPU each side used per request; then it waits until
the round's updates were interpreted and their events relayed and prints the CPU ingest and
the database's backends spent per update through that (the interpreter's work included,
which runs behind the answers). After the last
round it waits until every update was interpreted and verifies: every update recorded
once, none poison, every /start decided once in its chat's stream, and no event emitted
twice for one update (every event is read back from a queue bound to `#`).

Updates are the real samples of the Bot API data set (every valid one), retargeted to the
bench's bots and chats: 60 % text messages, 5 % /start, 5 % /help, 5 % callback queries,
25 % the other kinds; `--workload starts` sends only new users' /start instead (each in a
chat of its own, as bench/e2e does). Runs in a database and vhost of its own, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(
    os.environ.get("CHIME_BENCH_SAMPLES", ROOT.parent / "shared" / "telegram-bot-api" / "samples")
)
sys.path.insert(0, str(ROOT / "bench" / "e2e"))
import run as e2e  # noqa: E402  (its database and vhost helpers)
from account import processes, profile, spent, top_self  # noqa: E402

from chime_ingest.domain.bots import webhook_secret  # noqa: E402
from chime_kit.testing import free_port  # noqa: E402

KEY = "bench-webhook-key"


def token(n: int) -> str:
    return f"{9_300_000 + n}:AAChimeBenchIngestToken{n:04d}xxxxxxxxxxx"


def bot_of(n: int) -> int:
    return int(token(n).split(":")[0])


# -- the updates -----------------------------------------------------------------------------


def samples() -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("[0-9]*.json"))]
    if not found:
        raise SystemExit(f"no samples in {SAMPLES} (CHIME_BENCH_SAMPLES names another place)")
    return found


def retarget(update: dict[str, Any], update_id: int, chat: int) -> dict[str, Any]:
    """The sample as if sent by user `chat` (in its private chat, or a group of that number)."""
    body = copy.deepcopy(update)
    body["update_id"] = update_id
    kind = next(k for k in body if k != "update_id")
    part = body[kind]
    for holder in (part, part.get("message") if isinstance(part.get("message"), dict) else None):
        if holder is None:
            continue
        if isinstance(holder.get("chat"), dict):
            sign = -1 if holder["chat"].get("id", 1) < 0 else 1
            holder["chat"]["id"] = sign * (10_000_000_000 + chat if sign < 0 else chat)
        if "message_id" in holder:
            holder["message_id"] = update_id % 2**31
    for who in ("from", "user"):
        if isinstance(part.get(who), dict):
            part[who]["id"] = chat
    return body


def mix(all_samples: list[dict[str, Any]], workload: str) -> list[tuple[float, dict[str, Any]]]:
    text = next(s for s in all_samples if s.get("message", {}).get("text") == "hello there")

    def command(name: str) -> dict[str, Any]:
        body = copy.deepcopy(text)
        body["message"]["text"] = name
        body["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(name)}]
        return body

    callback = {
        "update_id": 0,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": text["message"]["from"],
            "message": text["message"],
            "chat_instance": "-5420139758453187834",
            "data": "snooze:15m",
        },
    }
    if workload == "starts":
        return [(1.0, command("/start"))]
    others = [s for s in all_samples if s is not text]
    weights = [(0.60, text), (0.05, command("/start")), (0.05, command("/help")), (0.05, callback)]
    return weights + [(0.25 / len(others), s) for s in others]


def requests(
    port: int, mixed: list[tuple[float, dict[str, Any]]], n: int, bots: int, chats: int,
    first_id: int, rng: random.Random, new_chats: bool = False,
) -> tuple[list[bytes], Counter[str]]:  # fmt: skip
    """`n` webhook requests, bots taking turns; and how many of each text command.
    `new_chats`: each update from a chat of its own (a new user), not one of `chats`."""
    templates = [t for _, t in mixed]
    picks = rng.choices(templates, weights=[w for w, _ in mixed], k=n)
    built, commands = [], Counter[str]()
    for i, template in enumerate(picks):
        bot = bot_of(i % bots)
        chat = first_id + i if new_chats else 1 + rng.randrange(chats)
        body = orjson.dumps(retarget(template, first_id + i, chat))
        text = template.get("message", {}).get("text", "")
        if text.startswith("/"):
            commands[text] += 1
        built.append(
            f"POST /telegram/{bot}/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {webhook_secret(KEY, bot)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return built, commands


def to_empty(request: bytes) -> bytes:
    _, _, rest = request.partition(b" HTTP/1.1")
    return b"POST /bench/empty HTTP/1.1" + rest


# -- the load generator ----------------------------------------------------------------------


async def post_all(
    port: int, batch: list[bytes], concurrency: int
) -> tuple[float, list[float], Counter[int]]:
    """Send every request over `concurrency` connections; wall seconds, latencies, statuses."""
    pending = iter(batch)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                statuses[int(head[9:12])] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


async def group_commits(port: int) -> str:
    """How the webhook's requests were committed so far, from ingest's /metrics."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    found = {}
    for line in text.splitlines():
        for what in ("count", "sum"):
            if line.startswith(f"chime_ingest_group_commit_updates_{what} "):
                found[what] = float(line.split()[1])
    count, total = found.get("count", 0.0), found.get("sum", 0.0)
    return (
        f"{count:,.0f} transactions stored {total:,.0f} updates ({total / max(count, 1):.1f} each)"
    )


def cpu_of(pid: int) -> float:
    return processes()[pid].seconds


async def backends(dsn: str) -> set[int]:
    """The PostgreSQL backends of the bench's database (ingest's pool, this process's probe)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {r["pid"] for r in rows}


async def drained(dsn: str) -> None:
    """Until every stored update was interpreted and every event relayed."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "ingest"})
    try:
        await emptied(conn, "update_queue", poll=0.05)
        await emptied(conn, "outbox", poll=0.05)
    finally:
        await conn.close()


async def phase(
    name: str, port: int, batch: list[bytes], concurrency: int, server: int,
    dsn: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Post `batch`; with `dsn` (the webhook phases) also wait until its updates were
    interpreted and their events relayed, and count the CPU ingest and the database's
    backends spent on them all (ingest runs its interpreter behind the answers)."""
    pids = await backends(dsn) if dsn else set()
    before = processes()
    cpu_before = (cpu_of(server), cpu_of(os.getpid()))
    wall, latencies, statuses = await post_all(port, batch, concurrency)
    cpu_after = (cpu_of(server), cpu_of(os.getpid()))
    ms = sorted(x * 1000 for x in latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    result = {
        "name": name, "rate": len(batch) / wall, "p50": cuts[49], "p99": cuts[98], "max": ms[-1],
        "server_ms": (cpu_after[0] - cpu_before[0]) * 1000 / len(batch),
        "client_ms": (cpu_after[1] - cpu_before[1]) * 1000 / len(batch),
        "statuses": dict(statuses), "load": os.getloadavg()[0],
    }  # fmt: skip
    print(
        f"  {name:8} {result['rate']:8,.0f}/s  p50 {result['p50']:6.1f} ms"
        f"  p99 {result['p99']:6.1f} ms"
        f"  max {result['max']:6.1f} ms  cpu/req ingest {result['server_ms']:.3f} ms,"
        f" load generator {result['client_ms']:.3f} ms  statuses {result['statuses']}"
        f"  (load {result['load']:.2f})",
        flush=True,
    )
    if dsn:
        answered = time.monotonic()
        await drained(dsn)
        caught_up = time.monotonic() - answered
        after = processes()
        pids |= await backends(dsn)
        result["drained_ingest_ms"] = spent(before, after, {server}) * 1000 / len(batch)
        result["drained_pg_ms"] = spent(before, after, pids) * 1000 / len(batch)
        print(
            f"           interpreted and relayed {caught_up:.1f} s after the last answer;"
            f" cpu/update through that: ingest {result['drained_ingest_ms']:.3f} ms,"
            f" postgresql backends {result['drained_pg_ms']:.3f} ms"
            f"  (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    return result


# -- verification ----------------------------------------------------------------------------


async def emptied(conn: asyncpg.Connection, table: str, poll: float = 0.5) -> None:
    deadline = time.monotonic() + 600
    while True:
        if not await conn.fetchval(f"SELECT count(*) FROM {table}"):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{table} still not empty after 10 min")
        await asyncio.sleep(poll)


async def verify(dsn: str, amqp_url: str, posted: int, starts: int, commands: int) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "ingest"})
    started = time.monotonic()
    try:
        await emptied(conn, "update_queue")
        drained = time.monotonic() - started
        await emptied(conn, "outbox")
        stored = dict(await conn.fetch("SELECT status, count(*) FROM updates GROUP BY status"))
        decided = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT envelope ->> 'causation_id') AS causes"
            " FROM events WHERE type = 'user.started.v1'"
        )
    finally:
        await conn.close()
    events: Counter[tuple[str, str]] = Counter()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue("bench.tap", passive=True)
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            envelope = orjson.loads(message.body)
            events[(envelope["causation_id"], envelope["type"])] += 1
    twice = sum(1 for count in events.values() if count > 1)
    replies = sum(1 for (_, kind) in events if kind.startswith("send.requested"))
    print("verification:")
    print(f"  interpretation caught up {drained:.1f} s after the last answer")
    print(f"  updates stored: {stored} of {posted} posted (each once: (bot, update_id) is the key)")
    print(f"  /start decided once each: {decided['n']} user.started.v1 from {decided['causes']}"
          f" updates, {starts} sent")  # fmt: skip
    print(f"  {len(events)} events read back ({replies} send requests; {commands} commands"
          f" sent), {twice} emitted more than once for one update")  # fmt: skip
    ok = (
        sum(stored.values()) == posted
        and "poison" not in stored
        and decided["n"] == decided["causes"] == starts
        and twice == 0
    )
    if not ok:
        raise SystemExit("verification FAILED")
    print("  verified: every update recorded once and interpreted once")


# -- the run -----------------------------------------------------------------------------------


def launch(env: dict[str, str]) -> subprocess.Popen[bytes]:
    here = Path(__file__).parent
    return subprocess.Popen([sys.executable, str(here / "server.py")], env=env, cwd=here)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=50_000, help="per round")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--bots", type=int, default=10)
    parser.add_argument("--chats", type=int, default=1000, help="per bot")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--workload", choices=("mix", "starts"), default="mix",
        help="mix: the Telegram mix above; starts: every update a new user's /start"
        " (what bench/e2e sends)",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="py-spy ingest during the webhook phases")
    args = parser.parse_args()

    name = f"chime_bench_ingest_{uuid.uuid4().hex[:8]}"
    await e2e.create_database(name)
    amqp_url = await e2e.make_vhost(name)
    connection = await aio_pika.connect(amqp_url)
    async with connection:  # the events need a queue to be routed to
        channel = await connection.channel()
        await channel.declare_exchange("chime.events", aio_pika.ExchangeType.TOPIC, durable=True)
        tap = await channel.declare_queue("bench.tap", durable=True)
        await tap.bind("chime.events", "#")
    port = free_port()
    dsn = f"{e2e.POSTGRES}/{name}"
    env = {
        **os.environ,
        "CHIME_INGEST_DATABASE_URL": dsn,
        "CHIME_INGEST_AMQP_URL": amqp_url,
        "CHIME_INGEST_BOT_TOKENS": json.dumps([token(n) for n in range(args.bots)]),
        "CHIME_INGEST_WEBHOOK_SECRET_KEY": KEY,
        "CHIME_INGEST_HTTP_PORT": str(port),
        "CHIME_INGEST_LOG_LEVEL": "WARNING",
        # No Telegram behind the bench: getMe at start-up and callback answers fail at once
        # (a closed port) instead of waiting on a network the bench does not measure.
        "CHIME_INGEST_TELEGRAM_API_BASE": "http://127.0.0.1:9",
    }
    server = launch(env)
    rng = random.Random(7)
    mixed = mix(samples(), args.workload)
    new_chats = args.workload == "starts"
    results: list[tuple[dict[str, Any], dict[str, Any]]] = []
    posted, commands = 0, Counter[str]()
    try:
        async with httpx.AsyncClient() as client:
            # Its imports alone take seconds of CPU; minutes when the machine is shared.
            deadline = time.monotonic() + 300
            while True:
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("ingest did not become ready")
                await asyncio.sleep(0.2)
        warm, warm_commands = requests(port, mixed, 2000, args.bots, args.chats, 1, rng, new_chats)
        await post_all(port, [to_empty(r) for r in warm], args.concurrency)
        await post_all(port, warm, args.concurrency)
        posted, commands = len(warm), warm_commands
        print("rounds:")
        spies = []
        for n in range(args.rounds):
            batch, counted = requests(
                port, mixed, args.updates, args.bots, args.chats, posted + 1, rng, new_chats
            )
            empty = await phase(
                "empty", port, [to_empty(r) for r in batch], args.concurrency, server.pid
            )
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"ingest-{n}.txt"
                seconds = max(2.0, args.updates / max(empty["rate"] / 3, 1))
                spies.append((out, profile(server.pid, seconds, out)))
            webhook = await phase("webhook", port, batch, args.concurrency, server.pid, dsn)
            print(f"           {await group_commits(port)}", flush=True)
            results.append((empty, webhook))
            posted += len(batch)
            commands += counted
        await verify(dsn, amqp_url, posted, commands["/start"], sum(commands.values()))
    finally:
        server.terminate()
        server.wait(30)
        await e2e.drop(name, name)

    conn = await asyncpg.connect(f"{e2e.POSTGRES}/postgres")
    pg_version = await conn.fetchval("SHOW server_version")
    await conn.close()
    rate = statistics.median(w["rate"] for _, w in results)
    p99 = statistics.median(w["p99"] for _, w in results)
    ceiling = statistics.median(e["rate"] for e, _ in results)
    drained_ingest = statistics.median(w["drained_ingest_ms"] for _, w in results)
    drained_pg = statistics.median(w["drained_pg_ms"] for _, w in results)
    print("conditions:")
    print(f"  date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  machine     {os.cpu_count()} CPUs, {platform.machine()}, load {os.getloadavg()}"
          " (shared with other work)")  # fmt: skip
    print(f"  python      {platform.python_version()}, postgresql {pg_version}")
    print(f"  libraries   fastapi {version('fastapi')}, uvicorn {version('uvicorn')},"
          f" asyncpg {version('asyncpg')}")  # fmt: skip
    print(f"  workload    {args.workload}: {args.updates} updates x {args.rounds} rounds at"
          f" concurrency {args.concurrency}, {args.bots} bots x {args.chats} chats;"
          " ingest, PostgreSQL, RabbitMQ and this load generator share the machine")  # fmt: skip
    print("summary (medians over rounds):")
    print(f"  webhook {rate:,.0f} updates/s durable, p99 {p99:.1f} ms;"
          f" empty 200 {ceiling:,.0f}/s; webhook / empty {rate / ceiling:.0%}")  # fmt: skip
    print(f"  cpu per update, interpreted and relayed: ingest {drained_ingest:.3f} ms,"
          f" postgresql backends {drained_pg:.3f} ms")  # fmt: skip
    verdict = "meets" if rate >= 5000 and p99 < 50 else "misses"
    print(f"  target >= 5,000 updates/s with p99 < 50 ms: {verdict}")
    for out, spy in spies:
        spy.wait()
        samples_, frames = top_self(out)
        print(f"ingest: top self-time frames of {samples_} busy samples ({out}):")
        for frame, share in frames:
            print(f"  {share:6.1%}  {frame}")


if __name__ == "__main__":
    uvloop.run(main())
