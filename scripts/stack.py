"""Start Chime on this machine, play a reminder through it and print what happened.

Run through `bash scripts/up.sh [--keep]`. Services run as separate processes, as they would
in production; their logs go to .run/logs/. Without CHIME_TELEGRAM_TOKEN the local Telegram
emulator stands in for Telegram; with it, ingest long-polls real Telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
POSTGRES = os.environ.get("CHIME_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432")
AMQP = os.environ.get("CHIME_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE = os.environ.get("CHIME_DATABASE", "chime_local")
DEMO_TOKEN = "1000001:AAChimeLocalDemoTokenNotARealOne0001"  # noqa: S105 (emulator only)
PORTS = {"emulator": 8081, "ingest": 8001, "scheduler": 8002, "sender": 8003, "api": 8004}
USER_ID = 1001


def say(text: str) -> None:
    print(f"\033[1;32m[chime]\033[0m {text}", flush=True)


class Stack:
    def __init__(
        self,
        token: str,
        real_telegram: bool,
        *,
        more_tokens: tuple[str, ...] = (),
        database: str = DATABASE,
        amqp_url: str = AMQP,
        log_level: str = "INFO",
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.tokens = (token, *more_tokens)
        self.database = database
        self.amqp_url = amqp_url
        self.log_level = log_level
        self.real = real_telegram
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.telegram = "https://api.telegram.org" if real_telegram else self.url("emulator")

    @staticmethod
    def url(name: str) -> str:
        return f"http://127.0.0.1:{PORTS[name]}"

    def env(self, service: str, **extra: str) -> dict[str, str]:
        prefix = f"CHIME_{service.upper()}_"
        values = {
            "DATABASE_URL": f"{POSTGRES}/{self.database}",
            "LOG_LEVEL": self.log_level,
            "AMQP_URL": self.amqp_url,
            "HTTP_PORT": str(PORTS[service]),
            **extra,
        }
        return {**os.environ, **{prefix + k: v for k, v in values.items()}}

    def launch(self, name: str, module: str, env: dict[str, str], *args: str) -> None:
        (RUN / "logs").mkdir(parents=True, exist_ok=True)
        log = (RUN / "logs" / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 (our own modules)
            [sys.executable, "-m", module, *args], env=env, stdout=log, stderr=log, cwd=ROOT
        )

    def start(self) -> None:
        if not self.real:
            self.launch(
                "emulator", "chime_emulator", dict(os.environ),
                "--port", str(PORTS["emulator"]),
                *(arg for t in self.tokens for arg in ("--bot", t)),
            )  # fmt: skip
        tokens = ",".join(self.tokens)
        ingest = {"BOT_TOKENS": tokens, "TELEGRAM_API_BASE": self.telegram}
        if self.real:
            ingest["MODE"] = "polling"
        else:
            ingest["PUBLIC_URL"] = self.url("ingest")
            ingest["WEBHOOK_SECRET_KEY"] = os.urandom(16).hex()
        self.launch("scheduler", "chime_scheduler", self.env("scheduler"))
        self.launch(
            "sender", "chime_sender",
            self.env("sender", BOT_TOKENS=tokens, TELEGRAM_API_BASE=self.telegram),
        )  # fmt: skip
        self.launch("api", "chime_api", self.env("api", DEFAULT_BOT_ID=str(self.bot_id)))
        # Ingest last: it registers its webhook, and the emulator must be up by then.
        self.launch("ingest", "chime_ingest", self.env("ingest", **ingest))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        for name in self.processes:
            path = "/_emulator/healthz" if name == "emulator" else "/readyz"
            deadline = time.monotonic() + 90
            while True:
                if self.processes[name].poll() is not None:
                    raise SystemExit(f"{name} exited; see .run/logs/{name}.log")
                try:
                    if (await client.get(self.url(name) + path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not get ready; see .run/logs/{name}.log")
                await asyncio.sleep(0.3)
            say(f"{name:9} ready at {self.url(name)}")


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
    key = create_api_key(stack)
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


def create_api_key(stack: Stack) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "chime_api", "keys", "create", "--name", "demo",
         "--scope", "notifications:write", "--scope", "notifications:read"],
        env=stack.env("api"), capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    match = re.search(r"chime_[A-Za-z0-9_-]+", out)
    if not match:
        raise SystemExit(f"could not create an API key: {out}")
    return match.group(0)


async def main() -> None:
    parser = argparse.ArgumentParser(description="Start Chime locally and show it working.")
    parser.add_argument("--keep", action="store_true", help="keep running after the demo")
    args = parser.parse_args()
    token = os.environ.get("CHIME_TELEGRAM_TOKEN", "")
    stack = Stack(token or DEMO_TOKEN, real_telegram=bool(token))
    await create_database()
    say(f"starting Chime ({datetime.now():%H:%M:%S}); logs in .run/logs/")
    stack.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await stack.wait_ready(client)
            if stack.real:
                say("connected to Telegram by long polling: send /start to your bot.")
            else:
                await demo(stack, client)
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
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
