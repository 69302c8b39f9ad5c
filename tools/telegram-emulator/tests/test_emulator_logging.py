"""The emulator's own server logs: Bot API paths carry tokens, and no log line may."""

import subprocess
import sys
import time

import httpx
import pytest

from chime_emulator.logs import redact
from chime_kit.testing import free_port

pytestmark = pytest.mark.unit

TOKEN = "4242001:AAEmulatorLogTokenMustNotBeLogged0001"


def test_redact_hides_a_token_in_a_path_and_leaves_other_paths() -> None:
    assert redact(f"GET /bot{TOKEN}/getMe HTTP/1.1") == "GET /bot<token>/getMe HTTP/1.1"
    assert TOKEN not in redact(f"/file/bot{TOKEN.replace(':', '%3A')}/photo.jpg")
    assert redact("GET /_emulator/bots/4242001/sent") == "GET /_emulator/bots/4242001/sent"


def test_the_access_log_of_the_running_emulator_carries_no_token() -> None:
    port = free_port()
    command = [sys.executable, "-m", "chime_emulator", "--port", str(port), "--bot", TOKEN]
    process = subprocess.Popen(
        [*command, "--access-log"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        httpx.post(f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage", json={"chat_id": 1})
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    log = output.decode()
    assert "/bot<token>/getMe" in log
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log
