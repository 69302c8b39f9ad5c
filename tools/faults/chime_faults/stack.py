"""The whole platform as separate processes, as it runs in production: the Telegram
emulator and the four services, each started with `python -m chime_<name>`.

The demo (`scripts/stack.py`), the end-to-end bench and the fault suite share it; the fault
suite also kills and restarts single services through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

SERVICES = ("scheduler", "sender", "api", "ingest")  # start order: ingest last (webhook)
CLIENT_SCOPES = ("notifications:write", "notifications:read")
DEFAULT_PORTS = {"emulator": 8081, "ingest": 8001, "scheduler": 8002, "sender": 8003, "api": 8004}


class Stack:
    def __init__(
        self,
        token: str,
        real_telegram: bool,
        *,
        postgres: str,
        database: str,
        amqp_url: str,
        more_tokens: tuple[str, ...] = (),
        log_level: str = "INFO",
        ports: Mapping[str, int] = DEFAULT_PORTS,
        logs: Path,
        cwd: Path | None = None,
        extra_env: Mapping[str, Mapping[str, str]] | None = None,
        traces: Path | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        """`traces`: a folder where each service appends its spans, `<service>.jsonl`."""
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.tokens = (token, *more_tokens)
        self.postgres = postgres.rstrip("/")
        self.database = database
        self.amqp_url = amqp_url
        self.log_level = log_level
        self.real = real_telegram
        self.ports = dict(ports)
        self.logs = logs
        self.cwd = cwd
        self.extra_env = {k: dict(v) for k, v in (extra_env or {}).items()}
        self.traces = traces
        self.say = say
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._commands: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {}
        self.telegram = "https://api.telegram.org" if real_telegram else self.url("emulator")
        self.webhook_secret = os.urandom(16).hex()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self, service: str, **extra: str) -> dict[str, str]:
        prefix = f"CHIME_{service.upper()}_"
        values = {
            "DATABASE_URL": f"{self.postgres}/{self.database}",
            "LOG_LEVEL": self.log_level,
            "AMQP_URL": self.amqp_url,
            "HTTP_PORT": str(self.ports[service]),
            **({"TRACES_FILE": str(self.traces / f"{service}.jsonl")} if self.traces else {}),
            **extra,
            **self.extra_env.get(service, {}),
        }
        # Spans reach the file within half a second, so a trace can be read while it runs.
        tracing = {"OTEL_BSP_SCHEDULE_DELAY": "500"} if self.traces else {}
        return {**os.environ, **tracing, **{prefix + k: v for k, v in values.items()}}

    def launch(self, name: str, module: str, env: dict[str, str], *args: str) -> None:
        self._commands[name] = (module, env, args)
        self.relaunch(name)

    def relaunch(self, name: str) -> None:
        module, env, args = self._commands[name]
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 (our own modules)
                [sys.executable, "-m", module, *args],
                env=env,
                stdout=log,
                stderr=log,
                cwd=self.cwd,
            )

    def start(self) -> None:
        if not self.real:
            self.launch(
                "emulator", "chime_emulator", dict(os.environ),
                "--port", str(self.ports["emulator"]),
                *(arg for t in self.tokens for arg in ("--bot", t)),
            )  # fmt: skip
        tokens = ",".join(self.tokens)
        ingest = {"BOT_TOKENS": tokens, "TELEGRAM_API_BASE": self.telegram}
        if self.real:
            ingest["MODE"] = "polling"
        else:
            ingest["PUBLIC_URL"] = self.url("ingest")
            ingest["WEBHOOK_SECRET_KEY"] = self.webhook_secret
        self.launch("scheduler", "chime_scheduler", self.env("scheduler"))
        self.launch(
            "sender", "chime_sender",
            self.env("sender", BOT_TOKENS=tokens, TELEGRAM_API_BASE=self.telegram),
        )  # fmt: skip
        self.launch("api", "chime_api", self.env("api", DEFAULT_BOT_ID=str(self.bot_id)))
        # Ingest last: it registers its webhook, and the emulator must be up by then.
        self.launch("ingest", "chime_ingest", self.env("ingest", **ingest))

    def send(self, name: str, sig: signal.Signals) -> None:
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(sig)

    def wait_exit(self, name: str, timeout: float) -> int | None:
        """The exit status, or None when the process outlived the timeout."""
        try:
            return self.processes[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        for name in self.processes:
            self.send(name, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def health_path(self, name: str) -> str:
        return "/_emulator/healthz" if name == "emulator" else "/readyz"

    async def is_ready(self, client: httpx.AsyncClient, name: str) -> bool:
        with contextlib.suppress(httpx.TransportError):
            response = await client.get(self.url(name) + self.health_path(name))
            return response.status_code == 200
        return False

    async def wait_ready(
        self, client: httpx.AsyncClient, names: tuple[str, ...] | None = None, within: float = 90
    ) -> None:
        for name in names or tuple(self.processes):
            deadline = time.monotonic() + within
            while not await self.is_ready(client, name):
                if self.processes[name].poll() is not None:
                    raise SystemExit(f"{name} exited; see {self.logs / name}.log")
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not get ready; see {self.logs / name}.log")
                await asyncio.sleep(0.3)
            self.say(f"{name:9} ready at {self.url(name)}")

    def create_api_key(
        self,
        name: str = "demo",
        scopes: tuple[str, ...] = ("notifications:write", "notifications:read"),
    ) -> str:
        out = subprocess.run(  # noqa: S603 (our own module)
            [sys.executable, "-m", "chime_api", "keys", "create", "--name", name,
             *(arg for scope in scopes for arg in ("--scope", scope))],
            env=self.env("api"), capture_output=True, text=True, check=True, cwd=self.cwd,
        ).stdout  # fmt: skip
        match = re.search(r"chime_[A-Za-z0-9_-]+", out)
        if not match:
            raise SystemExit(f"could not create an API key: {out}")
        return match.group(0)
