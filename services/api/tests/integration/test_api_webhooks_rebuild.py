"""Webhooks are decided from their streams: created, secret rotated (the next delivery is
signed with the new secret), paused (nothing delivered until resumed), deleted, deliveries
acknowledged or failed; `python -m chime_api rebuild` re-derives the table row for row."""

import asyncio

import httpx
import pytest
from api_support import auth
from test_api_webhooks import Receiver

from chime_api.bootstrap import SERVICE
from chime_api.entrypoints.app import create_app
from chime_api.entrypoints.cli import SERVICE_CLI
from chime_kit.db import create_pool
from chime_kit.testing import eventually, serving, table_rows

pytestmark = pytest.mark.integration
TYPES = ["notification.requested.v1"]


async def test_webhook_state_is_the_fold_of_its_stream(settings, make_key):
    receiver = Receiver()
    mine = await make_key("notify", "read", team="rebuilt-hooks")
    async with (
        serving(receiver.app) as hook_base,
        serving(create_app(settings)) as base,
        httpx.AsyncClient(base_url=base) as http,
    ):

        async def make(url: str) -> dict:
            made = await http.post("/v1/webhooks", json={"url": url, "types": TYPES},
                                   headers=auth(mine))  # fmt: skip
            assert made.status_code == 201
            return dict(made.json())

        async def state(hook_id: str) -> dict:
            got = await http.get(f"/v1/webhooks/{hook_id}", headers=auth(mine))
            return dict(got.json()) if got.status_code == 200 else {"status": got.status_code}

        async def notify(n: int) -> None:
            sent = await http.post("/v1/notifications", json={"chat_id": n, "text": "x"},
                                   headers=auth(mine))  # fmt: skip
            assert sent.status_code == 202

        live = await make(f"{hook_base}/hook")
        receiver.secret = live["secret"]
        # Nothing listens on the discard port: every try fails and waits its backoff.
        dead = await make("http://127.0.0.1:9/hook")
        held = await make(f"{hook_base}/hook")
        gone = await make(f"{hook_base}/hook")
        paused = await http.post(f"/v1/webhooks/{held['id']}/pause", headers=auth(mine))
        assert paused.json()["paused"] is True
        deleted = await http.delete(f"/v1/webhooks/{gone['id']}", headers=auth(mine))
        assert deleted.status_code == 204

        receiver.failing = 1
        await notify(1)
        await eventually(receiver.has(1), within=15)
        rotated = await http.post(f"/v1/webhooks/{live['id']}/secret-rotations", headers=auth(mine))
        assert rotated.status_code == 201
        assert rotated.json()["secret"] not in (None, live["secret"])
        assert (await state(live["id"]))["secret"] is None
        receiver.secret = rotated.json()["secret"]
        await notify(2)
        await eventually(receiver.has(2), within=15)

        async def settled() -> bool:
            now, failing = await state(live["id"]), await state(dead["id"])
            return bool(now["delivered"] == 2 and now["attempts"] == 0 and failing["attempts"])

        await eventually(settled, within=15)
        # Frozen for the comparison: a failing endpoint's state changes at every try.
        await http.post(f"/v1/webhooks/{dead['id']}/pause", headers=auth(mine))
        await asyncio.sleep(0.5)
        assert receiver.refused == 0  # the delivery after the rotation was signed anew
        assert (await state(gone["id"]))["status"] == 404
        frozen = await state(dead["id"])
        assert frozen["paused"] is True
        assert frozen["last_error"] is not None
        assert frozen["delivered"] == 0
        assert (await state(held["id"]))["delivered"] == 0

        dsn = settings.database_url.get_secret_value()
        pool = await create_pool(dsn, SERVICE, min_size=1, max_size=1)
        try:
            before = await table_rows(pool, "webhooks")
            assert len(before) == 3
            await SERVICE_CLI.rebuild(dsn)
            assert await table_rows(pool, "webhooks") == before
        finally:
            await pool.close()

        resumed = await http.post(f"/v1/webhooks/{held['id']}/resume", headers=auth(mine))
        assert resumed.json()["paused"] is False
