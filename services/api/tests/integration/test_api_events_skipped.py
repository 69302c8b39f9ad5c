"""The SSE stream names the chats a caller's broadcast skipped
(`broadcast.recipients.skipped.v1`), and only to keys that may read that broadcast."""

from datetime import UTC, datetime

import httpx
import pytest
from api_support import auth
from test_api_events import parse

from chime_api.entrypoints.app import create_app
from chime_contracts.envelope import envelope_of
from chime_contracts.events import BroadcastRecipientsSkipped
from chime_kit.testing import eventually, serving

pytestmark = pytest.mark.integration
SKIPPED = "broadcast.recipients.skipped.v1"


def skipped(broadcast_id: str, n: int, chat_ids: list[int]) -> BroadcastRecipientsSkipped:
    return BroadcastRecipientsSkipped(
        slice_id=f"{broadcast_id}:skipped:{n}", broadcast_id=broadcast_id, bot_id=7,
        reason="blocked", chat_ids=chat_ids, skipped_at=datetime.now(UTC),
    )  # fmt: skip


async def test_skipped_recipients_reach_only_their_broadcasts_readers(settings, make_key, tap):
    mine = await make_key("broadcast", "read", team="skips")
    teammate = await make_key("read", team="skips")
    stranger = await make_key("broadcast", "read", team="elsewhere")
    async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as http:
        body = {"topic": "news", "message": {"text": "m"}}
        ours = (await http.post("/v1/broadcasts", json=body, headers=auth(mine))).json()["id"]
        theirs = (await http.post("/v1/broadcasts", json=body, headers=auth(stranger))).json()["id"]
        for event in (skipped(ours, 0, [10, 11]), skipped(theirs, 0, [20])):
            await tap.publish(envelope_of(event, producer="scheduler"))

        async def read(key: str) -> list[dict]:
            got = await http.get(
                "/v1/events", params={"max_seconds": 0, "types": SKIPPED}, headers=auth(key)
            )
            assert got.status_code == 200
            return parse(got.text)

        async def both_kept() -> bool:
            got = await http.get(f"/v1/broadcasts/{theirs}/recipients", headers=auth(stranger))
            return bool(got.status_code == 200 and got.json()["items"]) and bool(await read(mine))

        await eventually(both_kept, within=15)
        [event] = await read(mine)
        assert event["event"] == SKIPPED
        assert ours in event["data"]
        assert '"chat_ids":[10,11]' in event["data"]
        assert [e["data"] for e in await read(teammate)] == [event["data"]]
        [their_event] = await read(stranger)
        assert theirs in their_event["data"]
        assert ours not in their_event["data"]
        every = await http.get("/v1/events", params={"max_seconds": 0}, headers=auth(mine))
        assert SKIPPED in [e["event"] for e in parse(every.text)]
