"""scripts/stack.py, the local demo: stopping it stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_every_service_the_demo_started(
    database_url: str, amqp_url: str, tmp_path: Path
) -> None:
    server, database = database_url.rsplit("/", 1)
    env = {**os.environ, "CHIME_POSTGRES": server, "CHIME_DATABASE": database}
    env["CHIME_AMQP"] = amqp_url
    env.pop("CHIME_TELEGRAM_TOKEN", None)
    out = tmp_path / "stack.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "scripts/stack.py", "--keep", "--free-ports"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    children: list[int] = []
    try:
        deadline = time.monotonic() + 100
        while "running; Ctrl-C stops" not in out.read_text():
            assert demo.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.3)
        children = _children(demo.pid)
        assert len(children) == 5  # the emulator and four services

        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)

        still_running = [pid for pid in children if _alive(pid)]
        assert still_running == []
    finally:
        for pid in [demo.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
