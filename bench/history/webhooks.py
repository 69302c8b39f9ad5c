"""`run.py --via webhooks`: chat traffic through ingest's webhooks into the api's history.

Ingest (`python -m chime_ingest serve`) and the api (`python -m chime_api serve`, default
settings but the database, broker and port) run as their own processes on the bench's
database and a RabbitMQ vhost of its own; this process posts Telegram updates (a private
chat's text message each) to ingest's webhook at a fixed rate, open loop: update i is due
at start + i / rate and waits for a free connection if none is, so a stall shows in the
p99 instead of slowing the load. Each update goes webhook → ingest's update log (answered
200 once stored) → interpretation → outbox relay → RabbitMQ → the api's history consumer.

Printed per phase (alone, then with the reader process beside it): ingest's answer p50 /
p99 (from each update's due time), how long after the phase's last update history had
applied all of it, webhook-to-history latency (each poll of the bot's day counter, 10 a
second, counts the updates applied since; the n-th applied is taken to be the n-th sent),
and the CPU the ingest and api processes used per update.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx

from chime_ingest.domain.bots import webhook_secret
from chime_kit.testing import free_port

RABBITMQ_API = os.environ.get("CHIME_BENCH_RABBITMQ_API", "http://127.0.0.1:15672")
AMQP = os.environ.get("CHIME_BENCH_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
AUTH = ("guest", "guest")
KEY = "bench-history-webhook-key"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def update(update_id: int, chat: int, date: int, text: str) -> bytes:
    person = {"id": chat, "is_bot": False, "first_name": "Bench"}
    return json.dumps({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "from": person, "date": date, "text": text,
            "chat": {"id": chat, "type": "private", "first_name": "Bench"},
        },
    }).encode()  # fmt: skip


def requests(bot: int, port: int, bodies: list[bytes]) -> list[bytes]:
    head = (
        f"POST /telegram/{bot}/webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {webhook_secret(KEY, bot)}\r\n"
    )
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def open_loop(
    port: int, batch: list[bytes], rate: float, connections: int
) -> tuple[list[float], list[float], dict[int, int]]:
    """Post `batch` at `rate`; (due times, latencies in ms from due to answer, statuses)."""
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    start = time.perf_counter() + 0.05
    dues = [start + i / rate for i in range(len(batch))]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def produce() -> None:
        for due, request in zip(dues, batch, strict=True):
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            queue.put_nowait((due, request))
        for _ in range(connections):
            queue.put_nowait(None)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (item := await queue.get()) is not None:
                due, request = item
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - due) * 1000)
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(produce(), *(connection() for _ in range(connections)))
    return dues, latencies, statuses


class Applied:
    """The bot's received counter of today (one rollup row), polled 10 times a second."""

    def __init__(self, pool: asyncpg.Pool, bot: int) -> None:
        self.pool = pool
        self.bot = bot
        self.day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def count(self) -> int:
        n = await self.pool.fetchval(
            "SELECT received FROM stats_rollups WHERE scope = 'bot' AND scope_id = $1"
            " AND granularity = 'day' AND bucket = $2",
            str(self.bot),
            self.day,
        )
        return int(n or 0)

    async def follow(
        self, base: int, expected: int, stop: asyncio.Event, patience: float
    ) -> list[float]:
        """When each of `expected` updates was applied (perf_counter), until all were or
        `patience` seconds passed after `stop` was set (the rest then count as not applied:
        a backlog, printed as such)."""
        seen: list[float] = []
        stopped_at: float | None = None
        while len(seen) < expected:
            n = await self.count() - base
            now = time.perf_counter()
            if n > len(seen):
                seen += [now] * (min(n, expected) - len(seen))
            if stop.is_set():
                stopped_at = stopped_at or now
                if now - stopped_at > patience:
                    break
            await asyncio.sleep(0.1)
        return seen


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def make_vhost(name: str) -> str:
    async with httpx.AsyncClient(base_url=RABBITMQ_API, auth=AUTH) as client:
        (await client.put(f"/api/vhosts/{name}")).raise_for_status()
        permissions = {"configure": ".*", "write": ".*", "read": ".*"}
        (await client.put(f"/api/permissions/{name}/guest", json=permissions)).raise_for_status()
    return AMQP.rstrip("/") + "/" + quote(name, safe="")


async def drop_vhost(name: str) -> None:
    async with httpx.AsyncClient(base_url=RABBITMQ_API, auth=AUTH) as client:
        await client.delete(f"/api/vhosts/{name}")


async def ready(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"{name} exited ({process.returncode})")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{name} did not become ready")


class Services:
    """Ingest and the api as processes on the bench's database and a vhost of its own."""

    def __init__(self, dsn: str, bot: int, vhost: str) -> None:
        self.dsn, self.bot, self.vhost = dsn, bot, vhost
        self.ingest_port, self.api_port = free_port(), free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    async def start(self) -> None:
        amqp = await make_vhost(self.vhost)
        token = f"{self.bot}:AAChimeBenchHistoryToken000xxxxxxxxxxxxx"
        ingest = {
            "CHIME_INGEST_DATABASE_URL": self.dsn, "CHIME_INGEST_AMQP_URL": amqp,
            "CHIME_INGEST_BOT_TOKENS": json.dumps([token]),
            "CHIME_INGEST_WEBHOOK_SECRET_KEY": KEY,
            "CHIME_INGEST_HTTP_PORT": str(self.ingest_port), "CHIME_INGEST_LOG_LEVEL": "WARNING",
            # No Telegram behind the bench: getMe at start-up fails at once.
            "CHIME_INGEST_TELEGRAM_API_BASE": "http://127.0.0.1:9",
        }  # fmt: skip
        api = {
            "CHIME_API_DATABASE_URL": self.dsn, "CHIME_API_AMQP_URL": amqp,
            "CHIME_API_HTTP_PORT": str(self.api_port), "CHIME_API_LOG_LEVEL": "WARNING",
            "CHIME_API_DEFAULT_BOT_ID": str(self.bot),
        }  # fmt: skip
        for name, env in (("api", api), ("ingest", ingest)):
            self.processes[name] = subprocess.Popen(  # noqa: ASYNC220 - at start-up only
                [sys.executable, "-m", f"chime_{name}", "serve"], env={**os.environ, **env}
            )
        await ready(f"http://127.0.0.1:{self.api_port}/readyz", self.processes["api"], "api")
        await ready(
            f"http://127.0.0.1:{self.ingest_port}/readyz", self.processes["ingest"], "ingest"
        )

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(p.pid) for name, p in self.processes.items()}

    async def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        await drop_vhost(self.vhost)


async def phase(
    services: Services, pool: asyncpg.Pool, name: str, bodies: list[bytes], rate: float,
    connections: int, beside: Callable[[], Coroutine[Any, Any, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Post `bodies` at `rate` and follow them into history; prints and returns figures."""
    applied = Applied(pool, services.bot)
    base = await applied.count()
    stop = asyncio.Event()
    patience = max(30.0, len(bodies) / rate)
    follower = asyncio.create_task(applied.follow(base, len(bodies), stop, patience))
    cpu = services.cpu()
    load = os.getloadavg()[0]
    reading = asyncio.create_task(beside()) if beside else None
    batch = requests(services.bot, services.ingest_port, bodies)
    dues, answers, statuses = await open_loop(services.ingest_port, batch, rate, connections)
    last_due = dues[-1]
    stop.set()
    seen = await follower
    used = {k: (v - cpu[k]) * 1000 / len(bodies) for k, v in services.cpu().items()}
    history = [(t - due) * 1000 for t, due in zip(seen, dues, strict=False)]
    caught_up = (seen[-1] - last_due) if seen else float("nan")
    result = {
        "answers": answers, "statuses": statuses, "history": history, "caught_up": caught_up,
        "applied": len(seen), "cpu": used, "load": (load, os.getloadavg()[0]),
        "reads": await reading if reading is not None else None,
    }  # fmt: skip
    print(
        f"{name}: {len(bodies)} updates at {rate:,.0f}/s, statuses {statuses}"
        f" (load avg {load:.2f} → {os.getloadavg()[0]:.2f})\n"
        f"  ingest answer          p50 {pct(answers, 0.5):8.1f}  p99 {pct(answers, 0.99):8.1f}"
        f"  max {max(answers):8.1f} ms\n"
        f"  webhook to history     p50 {pct(history, 0.5):8.1f}  p99 {pct(history, 0.99):8.1f}"
        f"  max {max(history, default=float('nan')):8.1f} ms (100 ms polls, of those applied);"
        f" {len(seen)} of {len(bodies)} applied {caught_up:.1f} s after the last was due"
        f" (given up after {patience:.0f} s)\n"
        f"  cpu per update         ingest {used['ingest']:.2f} ms, api {used['api']:.2f} ms",
        flush=True,
    )
    return result
