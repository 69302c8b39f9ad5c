"""The sender against the emulator with Telegram's limits enforced, beside python-telegram-bot's
AIORateLimiter and a bare HTTP client on the same emulator.

    uv run python bench/sender/run.py [--tokens 100] [--messages 100000] [--chats 50000]
        [--hot-chats 50] [--hot-groups 10] [--only sender,ptb,bare]
        [--sender-python PATH] [--profile DIR] [--bare-client aiohttp|httpx]

One workload for all three: `--messages` over `--chats` private chats (cold: each gets
messages spread over the run), plus `--hot-chats` private chats with 10 messages each and
`--hot-groups` groups with 20 each, published first (a burst); chat c goes through token
c % tokens. Each run starts from a reset emulator and prints delivered msg/s against the
allowed maximum (30/s per token), 429s and limit breaches as the emulator counts them, the
p99 wait of a message to a cold chat (request to Telegram's receipt) and the CPU per message
of whatever did the sending (the sender process; the bench process itself for the others).

- sender: the real service (`python -m chime_sender`, its own database and vhost) fed
  `send.requested.v1` through RabbitMQ as fast as the bench publishes.
- ptb: every token an `ExtBot` with its own `AIORateLimiter` (30/s overall, 20/min per
  group, retries on 429), all messages handed over at once, in one process.
- bare: aiohttp (`--bare-client httpx`: httpx, as before 2026-12-01 evening) posting
  sendMessage with 200 requests in flight to a second emulator with its limits off: what
  this machine carries at all (the ceiling).

`--sender-python` runs the sender from another checkout's interpreter (before/after CPU);
`--profile DIR` records the sender with py-spy for its window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import httpx

from chime_contracts.envelope import envelope_of
from chime_contracts.events import SendRequested
from chime_contracts.events.shared import SendSource
from chime_kit.broker import EVENTS
from chime_kit.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "bench" / "e2e")]
from stack import POSTGRES, create_database  # noqa: E402

_e2e = importlib.util.spec_from_file_location("bench_e2e", ROOT / "bench" / "e2e" / "run.py")
assert _e2e is not None
assert _e2e.loader is not None
e2e = importlib.util.module_from_spec(_e2e)
_e2e.loader.exec_module(e2e)
TICK = os.sysconf("SC_CLK_TCK")
TOKEN_RATE = 30


def token(n: int) -> str:
    return f"{7_100_000 + n}:AAChimeBenchSenderToken{n:04d}xxxxxxxxxx"


@dataclass(frozen=True)
class Message:
    n: int
    bot: int  # index of its token
    chat_id: int
    cold: bool


def workload(args: argparse.Namespace) -> list[Message]:
    """Hot chats and groups first (the burst), then the cold ones, round robin over chats."""
    out: list[Message] = []
    for h in range(args.hot_chats):
        out += [Message(0, h % args.tokens, 20_000_000 + h, False) for _ in range(10)]
    for g in range(args.hot_groups):
        out += [Message(0, g % args.tokens, -1_000_000_000 - g, False) for _ in range(20)]
    for i in range(args.messages):
        chat = i % args.chats
        out.append(Message(0, chat % args.tokens, 10_000_000 + chat, True))
    return [Message(n, m.bot, m.chat_id, m.cold) for n, m in enumerate(out)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Result:
    name: str
    messages: int
    window: float  # first to last message received by the emulator
    cpu: float
    stats: dict[str, Any]
    cold_waits: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.messages / self.window if self.window > 0 else 0.0


class Emulator:
    def __init__(self, tokens: list[str], *, limits: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = os.environ | {"CHIME_EMULATOR_BOTS": ",".join(tokens)}
        flags = [] if limits else ["--token-rate", "0", "--private-chat-interval", "0",
                                   "--group-rate-per-minute", "0"]  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chime_emulator", "--port", str(self.port), *flags],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def ready(self, client: httpx.AsyncClient) -> None:
        for _ in range(1200):  # a minute: a loaded machine starts Python slowly
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{self.url}/_emulator/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        raise SystemExit("the emulator did not start")

    async def prepare(self, client: httpx.AsyncClient, work: list[Message]) -> None:
        """A fresh emulator state with every chat of the workload in it."""
        (await client.post(f"{self.url}/_emulator/reset")).raise_for_status()
        chats = [
            {"type": "group", "id": c, "title": f"hot {c}"} if c < 0
            else {"type": "private", "id": c}
            for c in dict.fromkeys(m.chat_id for m in work)
        ]  # fmt: skip

        async def create() -> None:
            while chats:
                chat = chats.pop()
                for attempt in range(5):
                    # A kept-alive connection the emulator closed while idle (a long sender
                    # start on a loaded machine) fails once: take another.
                    try:
                        answer = await client.post(f"{self.url}/_emulator/chats", json=chat)
                        break
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                answer.raise_for_status()

        await asyncio.gather(*(create() for _ in range(20)))

    async def stats(self, client: httpx.AsyncClient) -> dict[str, Any]:
        stats: dict[str, Any] = (await client.get(f"{self.url}/_emulator/stats")).json()
        return stats

    async def received(
        self, client: httpx.AsyncClient, tokens: list[str]
    ) -> dict[int, tuple[float, int]]:
        """Message number -> (when the emulator took it, chat id), from every bot's log."""
        got: dict[int, tuple[float, int]] = {}
        for t in tokens:
            bot_id = t.split(":")[0]
            sent = await client.get(f"{self.url}/_emulator/bots/{bot_id}/sent")
            for message in sent.json()["messages"]:
                got[int(message["text"])] = (message["sent_at"], message["chat"]["id"])
        return got

    async def wait_for(self, client: httpx.AsyncClient, total: int, within: float) -> None:
        deadline = time.monotonic() + within
        while (sent := (await self.stats(client))["sent_total"]) < total:
            print(f"  {sent:,} of {total:,} received", file=sys.stderr, flush=True)
            if time.monotonic() > deadline:
                raise SystemExit(f"not all {total} messages arrived within {within:.0f}s")
            await asyncio.sleep(2.0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def result_of(
    name: str, work: list[Message], asked: dict[int, float], got: dict[int, tuple[float, int]],
    cpu: float, stats: dict[str, Any],
) -> Result:  # fmt: skip
    times = [at for at, _ in got.values()]
    waits = [got[m.n][0] - asked[m.n] for m in work if m.cold and m.n in got and m.n in asked]
    return Result(name, len(got), max(times) - min(times), cpu, stats, waits)


async def run_sender(
    emulator: Emulator, client: httpx.AsyncClient, tokens: list[str], work: list[Message],
    args: argparse.Namespace,
) -> Result:  # fmt: skip
    name = f"chime_bench_sender_{uuid.uuid4().hex[:8]}"
    await create_database(name)
    amqp_url = await e2e.make_vhost(name)
    port = free_port()
    env = os.environ | {
        "CHIME_SENDER_DATABASE_URL": f"{POSTGRES}/{name}",
        "CHIME_SENDER_AMQP_URL": amqp_url,
        "CHIME_SENDER_BOT_TOKENS": ",".join(tokens),
        "CHIME_SENDER_TELEGRAM_API_BASE": emulator.url,
        "CHIME_SENDER_HTTP_PORT": str(port),
        "CHIME_SENDER_LOG_LEVEL": "WARNING",
        "CHIME_SENDER_SEND_CONCURRENCY": "2000",
        "CHIME_SENDER_CLAIM_BATCH_SIZE": "1000",
        "CHIME_SENDER_TELEGRAM_MAX_CONNECTIONS": "400",
        **{k: v for k, v in os.environ.items() if k.startswith("CHIME_SENDER_")},
    }
    python = args.sender_python or sys.executable
    log = (ROOT / ".run" / "bench-sender.log").open("w")
    sender = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [python, "-m", "chime_sender"], env=env, cwd=Path(python).parents[2],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    spy: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(1200):  # a minute: a loaded machine starts Python slowly
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    break
            await asyncio.sleep(0.05)
        else:
            raise SystemExit("the sender did not become ready")
        await emulator.prepare(client, work)
        envelopes = [
            envelope_of(
                SendRequested(
                    delivery_id=f"bench-{m.n}", bot_id=int(tokens[m.bot].split(":")[0]),
                    chat_id=m.chat_id, text=str(m.n), origin="bench",
                    source=SendSource(kind="notification", id=str(m.n)),
                ),
                producer="bench",
            )
            for m in work
        ]  # fmt: skip
        bodies = [(e.routing_key, e.model_dump_json().encode()) for e in envelopes]
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(  # noqa: ASYNC220 - started once, before the window
                ["py-spy", "record", "--format", "raw", "--nolineno", "--nonblocking",
                 "-o", str(args.profile / "sender.txt"), "--pid", str(sender.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu_before = cpu_seconds(sender.pid)
        asked = await publish(amqp_url, work, bodies)
        await emulator.wait_for(client, len(work), within=600)
        cpu = cpu_seconds(sender.pid) - cpu_before
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled on an interrupt
            spy.wait(60)
            total, frames = e2e.top_self(args.profile / "sender.txt", 25)
            print(f"sender, {total:,} busy samples, top self time:")
            for frame, share in frames:
                print(f"  {share:6.1%}  {frame}")
        got = await emulator.received(client, tokens)
        conn = await asyncpg.connect(f"{POSTGRES}/{name}")
        try:
            outcomes = await conn.fetch(
                "SELECT outcome, count(*) AS n FROM sender.delivery_attempts GROUP BY 1 ORDER BY 1"
            )
        finally:
            await conn.close()
        stats = await emulator.stats(client) | {
            "calls": ", ".join(f"{r['outcome']} {r['n']:,}" for r in outcomes)
        }
        return result_of("sender", work, asked, got, cpu, stats)
    finally:
        sender.terminate()
        sender.wait(30)
        await e2e.drop(name, name)


async def publish(amqp_url: str, work: list[Message], bodies: list[tuple[str, bytes]]
                  ) -> dict[int, float]:  # fmt: skip
    """Publish every request with confirms, 1,000 in flight; when each was asked."""
    asked: dict[int, float] = {}
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await EVENTS.declare(channel)
        for start in range(0, len(work), 1000):
            chunk = range(start, min(start + 1000, len(work)))
            now = time.time()
            for i in chunk:
                asked[work[i].n] = now
            await asyncio.gather(*(
                exchange.publish(
                    aio_pika.Message(bodies[i][1], content_type="application/json",
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=bodies[i][0],
                )
                for i in chunk
            ))  # fmt: skip
    finally:
        await connection.close()
    return asked


def by_bot(work: list[Message]) -> Iterator[tuple[int, list[Message]]]:
    bots: dict[int, list[Message]] = {}
    for m in work:
        bots.setdefault(m.bot, []).append(m)
    yield from bots.items()


async def run_ptb(
    emulator: Emulator, client: httpx.AsyncClient, tokens: list[str], work: list[Message],
    args: argparse.Namespace,
) -> Result:  # fmt: skip
    from telegram.error import RetryAfter, TelegramError
    from telegram.ext import AIORateLimiter, ExtBot
    from telegram.request import HTTPXRequest

    await emulator.prepare(client, work)
    bots = [
        ExtBot(
            t, base_url=f"{emulator.url}/bot",
            request=HTTPXRequest(connection_pool_size=16),
            rate_limiter=AIORateLimiter(max_retries=10),
        )
        for t in tokens
    ]  # fmt: skip
    for bot in bots:
        await bot.initialize()
    asked: dict[int, float] = {}
    failed = 0

    async def send(bot: ExtBot[Any], m: Message) -> None:
        nonlocal failed
        asked[m.n] = time.time()
        try:
            await bot.send_message(m.chat_id, str(m.n))
        except (RetryAfter, TelegramError):
            failed += 1

    cpu_before = time.process_time()
    await asyncio.gather(*(send(bots[b], m) for b, ms in by_bot(work) for m in ms))
    cpu = time.process_time() - cpu_before
    for bot in bots:
        await bot.shutdown()
    got = await emulator.received(client, tokens)
    stats = await emulator.stats(client) | {"gave_up": failed}
    return result_of("ptb", work, asked, got, cpu, stats)


async def run_bare(tokens: list[str], work: list[Message], args: argparse.Namespace) -> Result:
    emulator = Emulator(tokens, limits=False)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=30, limits=limits))
            await emulator.ready(client)
            await emulator.prepare(client, work)
            asked: dict[int, float] = {}
            queue = list(reversed(work))
            resent = 0
            post = await _poster(args.bare_client, stack)

            async def worker() -> None:
                nonlocal resent
                while queue:
                    m = queue.pop()
                    asked[m.n] = time.time()
                    url = f"{emulator.url}/bot{tokens[m.bot]}/sendMessage"
                    body = {"chat_id": m.chat_id, "text": str(m.n)}
                    while True:
                        try:
                            await post(url, body)
                            break
                        except (httpx.TransportError, aiohttp.ClientError):
                            # A connection the loaded emulator dropped: sent again (it
                            # counts a message once), rather than losing the whole run.
                            resent += 1

            cpu_before = time.process_time()
            await asyncio.gather(*(worker() for _ in range(200)))
            cpu = time.process_time() - cpu_before
            got = await emulator.received(client, tokens)
            stats = await emulator.stats(client) | {"resent": resent}
            return result_of("bare", work, asked, got, cpu, stats)
    finally:
        emulator.stop()


async def _poster(
    kind: str, stack: contextlib.AsyncExitStack
) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """The bare client's POST: aiohttp (the sender's client since 2026-12-01) or httpx."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=30, limits=limits))

        async def post_httpx(url: str, body: dict[str, Any]) -> None:
            await client.post(url, json=body)

        return post_httpx
    session = await stack.enter_async_context(
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(total=30)
        )
    )

    async def post_aiohttp(url: str, body: dict[str, Any]) -> None:
        async with session.post(url, json=body) as response:
            await response.read()

    return post_aiohttp


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def report(results: list[Result], args: argparse.Namespace, loads: dict[str, tuple[float, ...]]
           ) -> None:  # fmt: skip
    allowed = args.tokens * TOKEN_RATE
    print("conditions:")
    print(f"  date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  machine     {os.cpu_count()} CPUs, {platform.machine()}, shared with other work")
    print(f"  python      {platform.python_version()}; aio-pika {version('aio-pika')},"
          f" asyncpg {version('asyncpg')}, aiohttp {version('aiohttp')}, httpx {version('httpx')},"
          f" python-telegram-bot {version('python-telegram-bot')}")  # fmt: skip
    print(f"  workload    {args.tokens} tokens (allowed {allowed:,}/s at {TOKEN_RATE}/s each);"
          f" {args.messages:,} messages over {args.chats:,} cold chats, {args.hot_chats} hot"
          f" chats x 10, {args.hot_groups} hot groups x 20")  # fmt: skip
    print("  emulator    Telegram's limits enforced (bare: limits off, the ceiling)")
    bare = next((r for r in results if r.name == "bare"), None)
    print()
    print(
        "| run | load avg (1 min) at start | messages | window s | msg/s | of allowed |"
        " of bare | 429s | breaches token/chat/group | cold p99 wait s | CPU ms/msg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        breaches = r.stats.get("breaches", {})
        of_bare = f"{r.rate / bare.rate:.0%}" if bare and r is not bare else "—"
        print(
            f"| {r.name} | {loads[r.name][0]:.2f} | {r.messages:,} | {r.window:.1f} |"
            f" {r.rate:,.0f} | {r.rate / allowed:.0%} | {of_bare} | {r.stats['rejected_429']} |"
            f" {breaches.get('token', 0)}/{breaches.get('chat', 0)}/{breaches.get('group', 0)} |"
            f" {p99(r.cold_waits):.2f} | {r.cpu / max(r.messages, 1) * 1000:.3f} |"
        )
        if "calls" in r.stats:
            print(f"  ({r.name}'s calls by outcome: {r.stats['calls']})")
        if r.stats.get("resent"):
            print(f"  ({r.name}: {r.stats['resent']} sent again after a dropped connection)")
        if "gave_up" in r.stats:
            print(f"  ({r.name}: {r.stats['gave_up']} sends gave up)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=50_000)
    parser.add_argument("--hot-chats", type=int, default=50)
    parser.add_argument("--hot-groups", type=int, default=10)
    parser.add_argument("--only", default="sender,ptb,bare")
    parser.add_argument("--sender-python", help="the sender's interpreter (another checkout)")
    parser.add_argument(
        "--bare-client", choices=("aiohttp", "httpx"), default="aiohttp",
        help="the bare client's HTTP library (httpx: the ceiling of the runs before 2026-12-01"
        " evening)",
    )  # fmt: skip
    parser.add_argument("--profile", type=Path, help="py-spy the sender into this dir")
    args = parser.parse_args()
    (ROOT / ".run").mkdir(exist_ok=True)
    tokens = [token(n) for n in range(args.tokens)]
    work = workload(args)
    runs = args.only.split(",")
    results: list[Result] = []
    loads: dict[str, tuple[float, ...]] = {}
    emulator = Emulator(tokens, limits=True)
    try:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            await emulator.ready(client)
            if "sender" in runs:
                loads["sender"] = os.getloadavg()
                results.append(await run_sender(emulator, client, tokens, work, args))
            if "ptb" in runs:
                loads["ptb"] = os.getloadavg()
                results.append(await run_ptb(emulator, client, tokens, work, args))
    finally:
        emulator.stop()
    if "bare" in runs:
        loads["bare"] = os.getloadavg()
        results.append(await run_bare(tokens, work, args))
    report(results, args, loads)


def _stop(*_: object) -> None:
    raise SystemExit("stopped")  # so the finally blocks stop the processes started here


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    asyncio.run(main())
