"""Start Chime on this machine, play a reminder through it and print what happened.

Run through `bash scripts/up.sh [--keep]`. Services run as separate processes, as they would
in production (`chime_faults.stack`); their logs go to .run/logs/. SIGTERM stops them all, as
Ctrl-C does. Without CHIME_TELEGRAM_TOKEN the local Telegram
emulator stands in for Telegram; with it, ingest long-polls real Telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from chime_faults.stack import DEFAULT_PORTS, Stack
from chime_kit.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
TRACES = RUN / "traces"
POSTGRES = os.environ.get("CHIME_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432")
AMQP = os.environ.get("CHIME_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE = os.environ.get("CHIME_DATABASE", "chime_local")
DEMO_TOKEN = "1000001:AAChimeLocalDemoTokenNotARealOne0001"  # noqa: S105 (emulator only)
USER_ID = 1001


def say(text: str) -> None:
    print(f"\033[1;32m[chime]\033[0m {text}", flush=True)


async def create_database(database: str = DATABASE) -> None:
    conn = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def demo(stack: Stack, client: httpx.AsyncClient) -> None:
    emulator = stack.url("emulator")
    started = time.time()

    async def user_says(text: str) -> None:
        print(f"  {time.time() - started:6.2f}s  user → bot   {text}")
        await client.post(
            f"{emulator}/_emulator/messages",
            json={"bot_id": stack.bot_id, "chat_id": USER_ID, "text": text, "wait": True},
        )

    seen: set[int] = set()

    async def bot_says(expect: str, within: float = 15) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            sent = await client.get(
                f"{emulator}/_emulator/bots/{stack.bot_id}/sent", params={"chat_id": USER_ID}
            )
            for m in sent.json()["messages"]:
                if m["message_id"] not in seen:
                    seen.add(m["message_id"])
                    first_line = m["text"].splitlines()[0]
                    print(f"  {m['sent_at'] - started:6.2f}s  bot  → user  {first_line}")
            if any(expect in m["text"] for m in sent.json()["messages"]):
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"the bot never said {expect!r}; see .run/logs/")

    await client.post(
        f"{emulator}/_emulator/chats",
        json={"type": "private", "id": USER_ID, "first_name": "Ada", "username": "ada"},
    )
    say("a user talks to the bot through the Telegram emulator:")
    await user_says("/start")
    await bot_says("I'm Chime")
    await user_says("/tz europe/kyiv")
    await bot_says("now Europe/Kyiv")
    await user_says("/remind in 2s hello")
    await bot_says("I'll remind you")
    await bot_says("⏰ hello")

    say("an internal service sends a notification through the API:")
    key = stack.create_api_key()
    response = await client.post(
        f"{stack.url('api')}/v1/notifications",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": os.urandom(8).hex()},
        json={"chat_id": USER_ID, "text": "Deploy finished ✅"},
    )
    print(f"  POST /v1/notifications → {response.status_code} {response.text}")
    location = response.json()["id"]
    await bot_says("Deploy finished")
    for _ in range(50):
        status = await client.get(
            f"{stack.url('api')}/v1/notifications/{location}",
            headers={"Authorization": f"Bearer {key}"},
        )
        if status.json().get("status") != "accepted":
            break
        await asyncio.sleep(0.1)
    print(f"  GET /v1/notifications/{location} → {status.json().get('status')}")
    stats = (await client.get(f"{emulator}/_emulator/stats")).json()
    say(f"Telegram saw {stats['sent_total']} messages, {stats['rejected_429']} rate-limited.")


def where_to_look(stack: Stack) -> None:
    """Where the traces, metrics, health views and the operator page of this run are."""
    say("where to look:")
    print("  traces   .run/traces/<service>.jsonl, one JSON span per line; as trees:")
    print("           uv run python -m chime_kit.span_export .run/traces")
    for name in ("ingest", "scheduler", "sender", "api"):
        print(f"  {name:9} {stack.url(name)}/metrics   {stack.url(name)}/health/details")
    if stack.processes["api"].poll() is None:
        admin = stack.create_api_key("operator", ("admin",))
        print(f"  operator {stack.url('api')}/operator#key={admin}")


async def main() -> None:
    parser = argparse.ArgumentParser(description="Start Chime locally and show it working.")
    parser.add_argument("--keep", action="store_true", help="keep running after the demo")
    parser.add_argument(
        "--free-ports", action="store_true", help="listen on free ports instead of 8001-8004, 8081"
    )
    args = parser.parse_args()
    token = os.environ.get("CHIME_TELEGRAM_TOKEN", "")
    ports = {name: free_port() for name in DEFAULT_PORTS} if args.free_ports else DEFAULT_PORTS
    stack = Stack(
        token or DEMO_TOKEN, real_telegram=bool(token), postgres=POSTGRES, database=DATABASE,
        amqp_url=AMQP, ports=ports, logs=RUN / "logs", cwd=ROOT, say=say, traces=TRACES,
    )  # fmt: skip
    for old in TRACES.glob("*.jsonl"):
        old.unlink()
    await create_database()
    say(f"starting Chime ({datetime.now():%H:%M:%S}); logs in .run/logs/, spans in .run/traces/")
    stack.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await stack.wait_ready(client)
            if stack.real:
                say("connected to Telegram by long polling: send /start to your bot.")
            else:
                await demo(stack, client)
            where_to_look(stack)
        if args.keep or stack.real:
            say("running; Ctrl-C stops. Try:")
            print(
                f"  curl -s {stack.url('emulator')}/_emulator/messages -H 'content-type: "
                f'application/json\' -d \'{{"bot_id": {stack.bot_id}, "chat_id": {USER_ID},'
                ' "text": "/remind in 10s stretch"}\'\n'
                f"  curl -s {stack.url('emulator')}/_emulator/bots/{stack.bot_id}/sent"
            )
            await asyncio.Event().wait()
    finally:
        say("stopping")
        stack.stop()


if __name__ == "__main__":
    # SIGTERM (a supervisor, `kill`, a CI runner) stops every child the way Ctrl-C does:
    # its default action would end this process and leave the services running.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
