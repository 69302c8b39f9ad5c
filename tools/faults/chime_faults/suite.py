"""Runs the scenarios against one platform and audits each one."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import asyncpg
import httpx

from chime_faults import audit
from chime_faults.checker import (
    Evidence,
    Kind,
    MessageKey,
    Request,
    Tally,
    check,
    expected_messages,
    violations,
)
from chime_faults.load import PROBE_CHAT, Load
from chime_faults.scenarios import NOISE_CHAT_COUNT, NOISE_CHATS, Context, Scenario
from chime_faults.servers import PrivatePostgres, PrivateRabbit
from chime_faults.stack import SERVICES, Stack
from chime_kit.faulty_link import FaultyLink
from chime_kit.testing import free_port

# The sender lets each call start only inside the fence its last heartbeat wrote (services/
# sender settings): a sender killed -9 leaves at most the fence's worth of each token's slots
# (30 a second) unknown though they never left. That bound is what the suite holds it to.
CALL_FENCE_SECONDS = 0.25
TOKEN_RATE = 30


def fenced_calls(bots: int) -> int:
    return bots * (math.ceil(CALL_FENCE_SECONDS * TOKEN_RATE) + 1)


DATABASE = "chime_faults"


def bot_token(n: int) -> str:
    return f"{9_300_000 + n}:AAChimeFaultSuiteToken{n:04d}xxxxxxxxxxxxxx"


@dataclass
class Outcome:
    scenario: Scenario
    tally: Tally
    dead_lettered: int
    drain_seconds: float | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def last(request: Request) -> Kind:
    """The message that ends a request: a reminder's own firing, or the notification."""
    return "reminder" if request.kind == "reminder" else "api"


class Runner:
    def __init__(self, ctx: Context, load: Load, drain_limit: float) -> None:
        self.ctx = ctx
        self.load = load
        self.drain_limit = drain_limit
        self.database_url = f"{ctx.postgres.url}/{DATABASE}"

    async def dead_letters(self) -> dict[str, int]:
        depths = await audit.queues(self.ctx.client, self.ctx.rabbit.management_url)
        names = [name for name in depths if name.endswith(".dlq")]
        return await audit.exact_depths(self.ctx.rabbit.amqp_url, names)

    async def settled(self, requests: list[Request]) -> tuple[bool, Evidence, list[str]]:
        """Whether every accepted request reached an end and every queue and outbox drained."""
        evidence = await audit.evidence(
            self.ctx.client,
            emulator=self.ctx.stack.url("emulator"),
            bots=self.load.bots,
            database_url=self.database_url,
        )
        waiting: list[str] = []
        for request in requests:
            if not request.accepted:
                continue
            for kind in expected_messages(request):
                key: MessageKey = (request.token, kind)
                row = evidence.sender.get(key)
                if not evidence.delivered[key] and (
                    row is None or row.state in ("pending", "sending")
                ):
                    waiting.append(f"{request.token} {kind}")
        backlog = {k: v for k, v in (await audit.outbox_backlog(self.database_url)).items() if v}
        depths = await audit.queues(self.ctx.client, self.ctx.rabbit.management_url)
        busy = {k: v for k, v in depths.items() if v and not k.endswith(".dlq")}
        left = [f"{len(waiting)} messages not yet at an end"] if waiting else []
        left += [f"outbox {k}: {v}" for k, v in backlog.items()]
        left += [f"queue {k}: {v}" for k, v in busy.items()]
        return not left, evidence, left

    async def drain(self, requests: list[Request]) -> tuple[float | None, Evidence, list[str]]:
        started = time.monotonic()
        while True:
            try:
                done, evidence, left = await self.settled(requests)
            except (OSError, httpx.HTTPError) as exc:  # a server still coming back
                done, left = False, [f"audit failed: {exc!r}"]
            if done:
                return time.monotonic() - started, evidence, []
            if time.monotonic() - started > self.drain_limit:
                return None, evidence, left
            await asyncio.sleep(1.0)

    async def liveness(self) -> list[str]:
        """Every service ready, and the platform still sends: a probe per bot, both paths."""
        problems = []
        for name in SERVICES:
            if not await self.ctx.stack.is_ready(self.ctx.client, name):
                problems.append(f"{name} /readyz not green")
        probes = [
            await self.load.notify(bot, PROBE_CHAT, self.load.token("probe"))
            for bot in self.load.bots
        ]
        probes.append(
            await self.load.remind(self.load.bots[0], PROBE_CHAT + 1, self.load.token("probe"), 1)
        )
        deadline = time.monotonic() + 30
        while True:
            evidence = await audit.evidence(
                self.ctx.client,
                emulator=self.ctx.stack.url("emulator"),
                bots=self.load.bots,
                database_url=self.database_url,
            )
            missing = [
                p for p in probes if not p.accepted or not evidence.delivered[(p.token, last(p))]
            ]
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        if missing:
            shown = ", ".join(
                f"{p.kind} to {p.bot_id}/{p.chat_id}"
                + ("" if p.accepted else f" (not accepted: {p.reason})")
                for p in missing
            )
            problems.append(
                f"stopped sending: {len(missing)} of {len(probes)} probes not delivered in 30s:"
                f" {shown}"
            )
        return problems

    async def heal(self) -> list[str]:
        """Restart what a failed scenario left broken, so the next one starts clean."""
        healed = []
        for name in SERVICES:
            if self.ctx.stack.processes[name].poll() is None:
                self.ctx.stack.send(name, signal.SIGKILL)
                await asyncio.to_thread(self.ctx.stack.wait_exit, name, 10)
            self.ctx.stack.relaunch(name)
            healed.append(name)
        await self.ctx.stack.wait_ready(self.ctx.client, SERVICES)
        return [f"restarted {', '.join(healed)} before the next scenario"]

    async def run(self, scenario: Scenario, index: int) -> Outcome:
        ctx = self.ctx
        ctx.notes = []
        ctx.poison_sent = 0
        dlq_before = await self.dead_letters()
        burst = asyncio.create_task(
            self.load.burst(
                f"{index:02d}",
                notifications=scenario.notifications,
                reminders=scenario.reminders,
                seconds=scenario.seconds,
            )
        )
        await asyncio.sleep(scenario.seconds * ctx.rng.uniform(0.3, 0.6))
        await scenario.fault(ctx)
        requests = await burst
        drain_seconds, evidence, left = await self.drain(requests)
        evidence.api = await audit.api_statuses(
            ctx.client, ctx.stack.url("api"), self.load.api_key, requests
        )
        tally = check(requests, evidence, unanswered_calls=scenario.unanswered_calls)
        dlq_after = await self.dead_letters()
        dead = sum(dlq_after.values()) - sum(dlq_before.values())
        problems = violations(
            tally,
            unanswered_calls=scenario.unanswered_calls,
            fenced_calls=fenced_calls(len(self.load.bots)) if scenario.kills_sender else 0,
        )
        problems += [f"not drained in {self.drain_limit:.0f}s: {x}" for x in left]
        if dead != ctx.poison_sent:
            problems.append(f"{dead} dead-lettered, {ctx.poison_sent} poison messages sent")
        problems += [n.removeprefix("VIOLATION ") for n in ctx.notes if n.startswith("VIOLATION")]
        problems += await self.liveness()
        notes = [n for n in ctx.notes if not n.startswith("VIOLATION")] + tally.examples
        notes += [f"{n} {reason}" for reason, n in tally.reasons.most_common(3)]
        if problems:
            notes += await self.heal()
        return Outcome(scenario, tally, dead, drain_seconds, problems, notes)


def conditions(postgres: PrivatePostgres, rabbit: PrivateRabbit) -> list[str]:
    return [
        f"date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine     {os.cpu_count()} CPUs, {platform.machine()}, load "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"python      {platform.python_version()}; {postgres.version()}; {rabbit.version()}",
        f"libraries   aio-pika {version('aio-pika')},"
        f" asyncpg {version('asyncpg')}, httpx {version('httpx')}",
    ]


def table(outcomes: list[Outcome]) -> str:
    head = (
        "scenario", "requests", "rejected", "messages", "once", "twice", "lost",
        "unknown(sent/not)", "failed", "dead-lettered", "drain s", "result",
    )  # fmt: skip
    rows = [head]
    for o in outcomes:
        t = o.tally
        rows.append((
            o.scenario.name, str(t.requested), str(t.rejected), str(t.messages), str(t.once),
            str(t.twice), str(t.lost), f"{t.unknown} ({t.unknown_sent}/{t.unknown_unsent})",
            str(t.failed), str(o.dead_lettered),
            "-" if o.drain_seconds is None else f"{o.drain_seconds:.1f}",
            "ok" if o.passed else "FAIL",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


async def run_suite(scenarios: list[Scenario], *, quick: bool, seed: int, workdir: Path,
                    bots: int) -> list[Outcome]:  # fmt: skip
    rng = random.Random(seed)
    postgres = PrivatePostgres(workdir / "postgres")
    rabbit = PrivateRabbit(workdir / "rabbitmq")
    print(f"[faults] private PostgreSQL on :{postgres.port}, RabbitMQ node {rabbit.node}"
          f" on :{rabbit.amqp_port} (management :{rabbit.management_port}); seed {seed}",
          flush=True)  # fmt: skip
    await asyncio.to_thread(postgres.start)
    stack: Stack | None = None
    link = FaultyLink("127.0.0.1", rabbit.amqp_port)
    try:
        await asyncio.to_thread(rabbit.start)
        await link.start()
        conn = await asyncpg.connect(f"{postgres.url}/postgres")
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        await conn.close()
        tokens = tuple(bot_token(n) for n in range(bots))
        stack = Stack(
            tokens[0], real_telegram=False, more_tokens=tokens[1:],
            postgres=postgres.url, database=DATABASE, amqp_url=rabbit.amqp_url,
            log_level="WARNING", ports={n: free_port() for n in ("emulator", *SERVICES)},
            logs=workdir / "logs",
            extra_env={
                # The suite's one client sends bursts far above a key's default rate: it
                # tests faults, not the api's rate limit, so its bucket never runs dry.
                "api": {
                    "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{link.port}/",
                    "RATE_PER_SECOND": "1000000",
                    "RATE_BURST": "1000000",
                },
                # A crashed sender's leases expire sooner than the 60 s default, so the suite
                # sees their outcome within its drain time; still longer than a Telegram call.
                "sender": {"LEASE_SECONDS": "25", "CALL_FENCE_SECONDS": str(CALL_FENCE_SECONDS)},
            },
            say=lambda text: print(f"[faults] {text}", flush=True),
        )  # fmt: skip
        stack.start()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await stack.wait_ready(client)
            key = await asyncio.to_thread(stack.create_api_key, "fault-suite")
            load = Load(
                client, emulator=stack.url("emulator"), api=stack.url("api"), api_key=key,
                bots=[int(t.split(":")[0]) for t in tokens], chats_per_bot=40, rng=rng,
            )  # fmt: skip
            await load.prepare(load.chats(*range(NOISE_CHATS, NOISE_CHATS + NOISE_CHAT_COUNT)))
            ctx = Context(stack, postgres, rabbit, link, client, rng, quick)
            runner = Runner(ctx, load, drain_limit=60.0 if quick else 120.0)
            outcomes = []
            for index, scenario in enumerate(scenarios):
                started = time.monotonic()
                print(f"[faults] {scenario.name} ...", flush=True)
                outcome = await runner.run(scenario, index)
                verdict = "ok" if outcome.passed else "FAIL: " + "; ".join(outcome.problems)
                print(f"[faults] {scenario.name}: {verdict} ({time.monotonic() - started:.0f}s)",
                      flush=True)  # fmt: skip
                outcomes.append(outcome)
            print("\nconditions:")
            for line in conditions(postgres, rabbit):
                print(f"  {line}")
            print(f"  load        {bots} bots x 40 chats; sender lease 25s; seed {seed}")
            return outcomes
    finally:
        if stack is not None:
            stack.stop()
        await link.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(rabbit.stop)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(postgres.stop)
