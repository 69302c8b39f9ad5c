"""CPU the emulator spends per update of the e2e flow, with nothing else in its way.

    uv run python tools/telegram-emulator/bench/run.py [--rate 100] [--seconds 10] [--bots 10]
        [--mode e2e|send] [--profile FILE]

Starts the emulator (`python -m chime_emulator`, Telegram's limits on) and a bare webhook
receiver as processes of their own, then drives what `bench/e2e` asks of the emulator per
update, open loop at a fixed rate: `POST /_emulator/messages` (one user's `/start`, which
the emulator delivers to the bot's webhook) and one `sendMessage` back to that user. Prints
the emulator's CPU per update from /proc over the window (`--mode send`: sendMessage
alone, the sender bench's load), the rates reached, and the load
average (the machine may be shared). `--profile FILE` records py-spy's raw (collapsed) stacks
(sampling costs CPU: take the figures from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

RECEIVER = """
import asyncio, sys

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\n\\r\\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


WHAT = {
    "e2e": "update (inject + webhook delivery + sendMessage)",
    "send": "sendMessage (each to a chat of its own)",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def token(n: int) -> str:
    return f"{9_200_000 + n}:AAChimeEmulatorBench{n:04d}xxxxxxxxxxxx"


async def wait_ready(client: httpx.AsyncClient, url: str) -> None:
    for _ in range(200):
        try:
            if (await client.get(url)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


async def drive(args: argparse.Namespace, emulator: str, hook: str, pid: int) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=emulator, limits=limits, timeout=30) as client:
        await wait_ready(client, "/_emulator/healthz")
        for n in range(args.bots):
            response = await client.post(f"/bot{token(n)}/setWebhook", json={"url": hook})
            response.raise_for_status()
        total = int(args.rate * args.seconds)
        errors = 0
        if args.mode == "send":  # the users exist before the window, as they would
            for i in range(total):
                chat = {"type": "private", "id": 1_000_000 + i}
                (await client.post("/_emulator/chats", json=chat)).raise_for_status()

        async def one(i: int) -> None:
            nonlocal errors
            bot, user = i % args.bots, 1_000_000 + i  # a new user each time: no chat limit
            if args.mode == "e2e":
                inject = await client.post(
                    "/_emulator/messages",
                    json={"token": token(bot), "chat_id": user, "text": "/start"},
                )
                errors += inject.status_code != 200
            reply = await client.post(
                f"/bot{token(bot)}/sendMessage", json={"chat_id": user, "text": "Welcome!"}
            )
            errors += reply.status_code != 200

        start_cpu, start = cpu_seconds(pid), time.monotonic()
        tasks = []
        for i in range(total):
            delay = start + i / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        stats = (await client.get("/_emulator/stats")).json()
        while args.mode == "e2e" and stats["webhook_deliveries_ok"] < total:
            await asyncio.sleep(0.05)
            stats = (await client.get("/_emulator/stats")).json()
        elapsed, used = time.monotonic() - start, cpu_seconds(pid) - start_cpu
    print(
        f"{total} updates at {args.rate}/s over {args.bots} bots in {elapsed:.1f} s "
        f"({total / elapsed:.0f}/s reached); errors {errors}; 429s {stats['rejected_429']}\n"
        f"emulator CPU {used:.2f} s = {used / total * 1000:.2f} ms per {WHAT[args.mode]}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--bots", type=int, default=10)
    parser.add_argument("--mode", choices=sorted(WHAT), default="e2e")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    emulator_port, hook_port = free_port(), free_port()
    env = os.environ | {"CHIME_EMULATOR_AUTO_REGISTER": "1"}
    emulator_cmd = [sys.executable, "-m", "chime_emulator", "--port", str(emulator_port)]
    if args.profile:
        emulator_cmd = [
            "py-spy",
            "record",
            "-f",
            "raw",
            "-o",
            str(args.profile),
            "--",
            *emulator_cmd,
        ]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(hook_port)])  # noqa: S603
    emulator = subprocess.Popen(  # noqa: S603 (our own module)
        emulator_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1.0 if args.profile else 0.0)
        pid = emulator.pid
        if args.profile:  # py-spy's child is the emulator
            children = Path(f"/proc/{emulator.pid}/task/{emulator.pid}/children").read_text()
            pid = int(children.split()[0])
        asyncio.run(
            drive(args, f"http://127.0.0.1:{emulator_port}", f"http://127.0.0.1:{hook_port}/", pid)
        )
    finally:
        emulator.send_signal(2)
        emulator.wait(30)
        receiver.kill()
        receiver.wait()


if __name__ == "__main__":
    main()
