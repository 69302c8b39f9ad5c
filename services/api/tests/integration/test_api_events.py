"""The SSE stream: the caller's own events of the chosen types, in order, resumed after
Last-Event-ID, nothing of another team's."""

from datetime import UTC, datetime

import httpx
import pytest
from api_support import auth, from_sender

from chime_api.entrypoints.app import create_app
from chime_contracts.events import MessageSent
from chime_contracts.events.shared import SendSource
from chime_kit.testing import eventually, serving

pytestmark = pytest.mark.integration


def parse(text: str) -> list[dict]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "id" in fields:
            events.append(fields)
    return events


async def test_a_stream_resumes_after_the_last_event_id(settings, make_key, tap):

    mine = await make_key("notify", "read", team="sse")
    theirs = await make_key("notify", "read", team="other")
    async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
        ids = []
        for n in range(3):
            made = await http.post("/v1/notifications", json={"chat_id": n, "text": "x"},
                                   headers=auth(mine))  # fmt: skip
            ids.append(made.json()["id"])
        await http.post("/v1/notifications", json={"chat_id": 9, "text": "not yours"},
                        headers=auth(theirs))  # fmt: skip

        async def stream(**headers):
            async with http.stream(
                "GET", "/v1/events", params={"max_seconds": 0}, headers={**auth(mine), **headers}
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                return parse((await response.aread()).decode())

        # A transaction older than ours anywhere in the cluster holds the frontier back
        # (the feed never reads past one): wait for it rather than read it at once.
        first = await eventually(lambda: _at_least(stream, 3), within=10)
        assert [e["event"] for e in first] == ["notification.requested.v1"] * 3
        assert [int(e["id"]) for e in first] == sorted(int(e["id"]) for e in first)
        assert all("not yours" not in e["data"] for e in first)
        await tap.publish(
            from_sender(
                MessageSent(
                    delivery_id=f"api:{ids[1]}", bot_id=7, chat_id=1, telegram_message_id=4,
                    attempts=1, sent_at=datetime.now(UTC),
                    source=SendSource(kind="notification", id=ids[1]),
                )
            )
        )  # fmt: skip

        async def more() -> list[dict]:
            return await stream(**{"Last-Event-ID": first[-1]["id"]})

        await eventually(lambda: _nonempty(more), within=10)
        [sent] = await more()
        assert sent["event"] == "message.sent.v1"
        assert ids[1] in sent["data"]
        only = await http.get("/v1/events", params={"max_seconds": 0, "types": "message.sent.v1"},
                              headers=auth(mine))  # fmt: skip
        assert [e["event"] for e in parse(only.text)] == ["message.sent.v1"]
        bad = await http.get("/v1/events", params={"types": "api_key.created.v1"},
                             headers=auth(mine))  # fmt: skip
        assert bad.status_code == 422


async def _at_least(read, n: int) -> list[dict] | None:
    events = await read()
    return events if len(events) >= n else None


async def _nonempty(read) -> bool:
    return bool(await read())
