"""One fault per scenario, injected in the middle of a burst."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import httpx

from chime_faults.servers import PrivatePostgres, PrivateRabbit
from chime_faults.stack import SERVICES, Stack
from chime_kit.faulty_link import FaultyLink

SENDER_QUEUE = "sender.send-requested"
NOISE_CHATS = 990_000  # where the neighbour of the 429 storm writes
NOISE_CHAT_COUNT = 90


@dataclass
class Context:
    stack: Stack
    postgres: PrivatePostgres
    rabbit: PrivateRabbit
    api_link: FaultyLink  # between the api and RabbitMQ
    client: httpx.AsyncClient
    rng: random.Random
    quick: bool
    poison_sent: int = 0
    notes: list[str] = field(default_factory=list)


Fault = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: Fault
    quick: bool = False
    notifications: int = 300
    reminders: int = 40
    seconds: float = 6.0
    unanswered_calls: bool = False  # the fault leaves Telegram calls unanswered
    kills_sender: bool = False  # calls inside a dead sender's fence may end unknown


async def restart(ctx: Context, name: str) -> None:
    await asyncio.sleep(1.0)
    ctx.stack.relaunch(name)
    await ctx.stack.wait_ready(ctx.client, (name,))


def kill(name: str) -> Fault:
    async def fault(ctx: Context) -> None:
        ctx.stack.send(name, signal.SIGKILL)
        await asyncio.to_thread(ctx.stack.wait_exit, name, 10)
        ctx.notes.append(f"{name} killed (SIGKILL)")
        await restart(ctx, name)

    return fault


async def sigterm_all(ctx: Context) -> None:
    started = time.monotonic()
    for name in SERVICES:
        ctx.stack.send(name, signal.SIGTERM)
    for name in SERVICES:
        code = await asyncio.to_thread(ctx.stack.wait_exit, name, 30)
        ctx.notes.append(f"{name} exit {code} after {time.monotonic() - started:.1f}s")
        # uvicorn ends by re-raising the signal it handled, after its graceful shutdown.
        if code not in (0, -signal.SIGTERM):
            ctx.notes.append(f"VIOLATION {name} did not stop cleanly on SIGTERM (exit {code})")
            if code is None:
                ctx.stack.send(name, signal.SIGKILL)
                await asyncio.to_thread(ctx.stack.wait_exit, name, 10)
    for name in SERVICES:
        ctx.stack.relaunch(name)
    await ctx.stack.wait_ready(ctx.client, SERVICES)


async def rabbitmq_restart(ctx: Context) -> None:
    outage = 5.0 if ctx.quick else 10.0
    await asyncio.to_thread(ctx.rabbit.stop_app)
    await asyncio.sleep(outage)
    await asyncio.to_thread(ctx.rabbit.start_app)
    ctx.notes.append(f"rabbitmqctl stop_app, {outage:.0f}s, start_app")


async def postgres_restart(ctx: Context) -> None:
    started = time.monotonic()
    await asyncio.to_thread(ctx.postgres.restart)
    ctx.notes.append(f"pg_ctl restart -m fast took {time.monotonic() - started:.1f}s")


async def postgres_down(ctx: Context) -> None:
    await asyncio.to_thread(ctx.postgres.stop)
    await asyncio.sleep(30)
    await asyncio.to_thread(ctx.postgres.start)
    ctx.notes.append("pg_ctl stop -m fast, 30s down, start")


async def broker_cut_before_confirm(ctx: Context) -> None:
    ctx.api_link.hold()
    await asyncio.sleep(2.0)
    cut = ctx.api_link.cut()
    ctx.api_link.release()
    ctx.notes.append(f"api↔RabbitMQ held 2s (publishes unconfirmed), then {cut} links cut")


def telegram(mode: str, seconds: float, **rule: object) -> Fault:
    async def fault(ctx: Context) -> None:
        emulator = ctx.stack.url("emulator")
        (
            await ctx.client.post(f"{emulator}/_emulator/faults", json={"mode": mode, **rule})
        ).raise_for_status()
        await asyncio.sleep(seconds)
        await ctx.client.delete(f"{emulator}/_emulator/faults")
        ctx.notes.append(f"Telegram {mode} {rule or ''} for {seconds:.0f}s")

    return fault


async def telegram_429_storm(ctx: Context) -> None:
    """Another client of the same bot tokens floods Telegram (twice a token's 30/s, to many
    chats), so Chime's sends meet 429s with retry_after."""
    emulator = ctx.stack.url("emulator")
    stats = f"{emulator}/_emulator/stats"
    before = (await ctx.client.get(stats)).json()["rejected_429"]
    calls: list[asyncio.Task[httpx.Response]] = []
    for tick in range(24):  # 6 s
        for token in ctx.stack.tokens:
            for n in range(15):
                chat = NOISE_CHATS + (tick * 15 + n) % NOISE_CHAT_COUNT
                calls.append(
                    asyncio.create_task(
                        ctx.client.post(
                            f"{emulator}/bot{token}/sendMessage",
                            json={"chat_id": chat, "text": "noise"},
                        )
                    )
                )
        await asyncio.sleep(0.25)
    await asyncio.gather(*calls, return_exceptions=True)
    after = (await ctx.client.get(stats)).json()["rejected_429"]
    ctx.notes.append(
        f"{len(calls)} noise calls from a neighbour in 6s; {after - before} 429s in all"
    )


async def poison(ctx: Context) -> None:
    """Raw messages no producer would send, straight into the sender's queue."""
    connection = await aio_pika.connect(ctx.rabbit.amqp_url)
    async with connection:
        channel = await connection.channel()
        bodies = [b"\x00not json{", json.dumps({"id": "x", "type": "send.requested.v1"}).encode()]
        for body in bodies:
            await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=SENDER_QUEUE,
            )
    ctx.poison_sent += len(bodies)
    ctx.notes.append(f"{len(bodies)} poison messages published into {SENDER_QUEUE}")


def all_scenarios(quick: bool) -> list[Scenario]:
    big = 600 if quick else 10_000
    return [
        Scenario("kill -9 ingest", kill("ingest"), quick=True),
        Scenario("kill -9 scheduler", kill("scheduler"), quick=True),
        Scenario("kill -9 sender", kill("sender"), quick=True, kills_sender=True),
        Scenario("kill -9 api", kill("api")),
        Scenario("RabbitMQ stop_app/start_app", rabbitmq_restart, quick=True),
        Scenario("PostgreSQL restart", postgres_restart),
        Scenario("PostgreSQL down 30s", postgres_down),
        Scenario("broker link cut before confirm", broker_cut_before_confirm),
        Scenario("Telegram 5xx storm", telegram("error", 5.0, status=502), quick=True),
        Scenario(
            "Telegram timeouts",
            telegram("timeout", 8.0, delay_s=20.0, count=10),
            unanswered_calls=True,
        ),
        Scenario("Telegram 429 storm", telegram_429_storm),
        Scenario(
            f"poison among {big}",
            poison,
            quick=True,
            notifications=big,
            reminders=0,
            seconds=10.0 if quick else 60.0,
        ),
        Scenario("SIGTERM mid-burst", sigterm_all),
    ]
