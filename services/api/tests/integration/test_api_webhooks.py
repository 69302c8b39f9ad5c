"""Webhooks to a small receiver that checks every signature: the owner's events arrive in
order, a failing receiver is retried with backoff, a replay delivers again, another team's
events never arrive."""

import asyncio
import time
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from api_support import auth, from_sender
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chime_api.domain.webhooks import verify
from chime_api.entrypoints.app import create_app
from chime_api.entrypoints.cli import replay_webhook
from chime_contracts.events import MessageSent
from chime_contracts.events.shared import SendSource
from chime_kit.testing import eventually, serving

pytestmark = pytest.mark.integration


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.failing = 0
        self.refused = 0
        self.events: list[dict] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    def has(self, count: int):
        async def enough() -> bool:
            return len(self.events) >= count

        return enough

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if not verify(self.secret, request.headers["chime-signature"], body, time.time()):
            self.refused += 1
            return Response(status_code=401)
        if self.failing:
            self.failing -= 1
            return Response(status_code=503)
        self.events.append(orjson.loads(body) | {"_type": request.headers["chime-event-type"]})
        return Response(status_code=204)


async def test_signed_deliveries_retries_and_replay(settings, make_key, tap):
    receiver = Receiver()
    mine = await make_key("notify", "read", team="hooks")
    theirs = await make_key("notify", "read", team="nothooks")
    async with (
        serving(receiver.app) as hook_base,
        serving(create_app(settings)) as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        made = await http.post(
            "/v1/webhooks",
            json={"url": f"{hook_base}/hook",
                  "types": ["notification.requested.v1", "message.sent.v1"]},
            headers=auth(mine),
        )  # fmt: skip
        assert made.status_code == 201
        receiver.secret = made.json()["secret"]
        hook_id = made.json()["id"]
        shown = await http.get(f"/v1/webhooks/{hook_id}", headers=auth(mine))
        assert shown.json()["secret"] is None
        ids = []
        for n in range(2):
            response = await http.post("/v1/notifications", json={"chat_id": n, "text": "x"},
                                       headers=auth(mine))  # fmt: skip
            ids.append(response.json()["id"])
        await http.post("/v1/notifications", json={"chat_id": 5, "text": "x"},
                        headers=auth(theirs))  # fmt: skip
        await eventually(receiver.has(2), within=10)
        assert [e["data"]["notification_id"] for e in receiver.events] == ids

        receiver.failing = 2
        await tap.publish(
            from_sender(
                MessageSent(
                    delivery_id=f"api:{ids[0]}", bot_id=7, chat_id=0, telegram_message_id=1,
                    attempts=1, sent_at=datetime.now(UTC),
                    source=SendSource(kind="notification", id=ids[0]),
                )
            )
        )  # fmt: skip
        await eventually(receiver.has(3), within=15)
        assert receiver.failing == 0  # it failed twice, then the retry got through
        assert receiver.events[2]["_type"] == "message.sent.v1"

        async def caught_up() -> bool:
            state = (await http.get(f"/v1/webhooks/{hook_id}", headers=auth(mine))).json()
            return bool(state["delivered"] == 3 and state["attempts"] == 0)

        await eventually(caught_up, within=5)

        assert await replay_webhook(settings, hook_id, 0)
        await eventually(receiver.has(6), within=10)
        await asyncio.sleep(0.5)
        assert [e["id"] for e in receiver.events[3:]] == [e["id"] for e in receiver.events[:3]]
        assert receiver.refused == 0
        other = await http.get(f"/v1/webhooks/{hook_id}", headers=auth(theirs))
        assert other.status_code == 404
