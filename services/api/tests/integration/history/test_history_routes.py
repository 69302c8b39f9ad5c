"""The history and stats routes end to end: events published on RabbitMQ reach the api's
consumers, and the routes read what they projected; scopes as documented."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from api_support import auth
from history_support import BOT, received, requested, sent

from chime_kit.testing import eventually, publish_envelope

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Keys:
    read: str
    admin: str


@pytest.fixture
async def keys(make_key) -> Keys:
    return Keys(await make_key("read"), await make_key("admin"))


@pytest.fixture
async def conversation(client, keys: Keys, amqp_url: str) -> datetime:
    """Two chats: chat 1 talks (five messages, one edited, two answers), chat 2 once."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = [received(1, n, start + timedelta(seconds=n), text=f"note {n} about cats")
              for n in range(1, 6)]  # fmt: skip
    events.append(received(1, 3, start + timedelta(seconds=3), text="note 3 about dogs",
                           edited_at=start + timedelta(seconds=30)))  # fmt: skip
    events += [
        sent(1, "d1", start + timedelta(seconds=7), 7),
        requested(1, "d1", start + timedelta(seconds=6), "ok!"),
    ]
    events.append(received(2, 1, start, text="hi"))
    for envelope in events:
        await publish_envelope(amqp_url, envelope)
    key = keys.read

    async def projected() -> bool:
        body = (await client.get("/v1/history/chats/1/last", headers=auth(key))).json()
        texts = [m["text"] for m in body["items"]]
        other = (await client.get("/v1/history/chats/2/last", headers=auth(key))).json()
        return (
            len(texts) == 6
            and "ok!" in texts
            and "note 3 about dogs" in texts
            and bool(other["items"])
        )

    await eventually(projected, within=20)
    return start


async def test_last_messages_both_directions_oldest_first(client, keys, conversation) -> None:
    body = (await client.get("/v1/history/chats/1/last?limit=3", headers=auth(keys.read))).json()
    assert [(m["direction"], m["text"]) for m in body["items"]] == [
        ("in", "note 4 about cats"), ("in", "note 5 about cats"), ("out", "ok!"),
    ]  # fmt: skip
    assert body["items"][-1]["status"] == "sent"
    assert body["items"][-1]["message_id"] == 7


async def test_a_range_page_by_page(client, keys, conversation) -> None:
    seen, cursor = [], None
    params = {
        "from": conversation.isoformat(),
        "to": (conversation + timedelta(minutes=1)).isoformat(),
        "limit": 4,
    }
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        body = (
            await client.get("/v1/history/chats/1/messages", params=query, headers=auth(keys.read))
        ).json()
        seen += [m["message_id"] for m in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4, 5, 7]


async def test_search_within_a_chat(client, keys, conversation) -> None:
    found = (await client.get("/v1/history/chats/1/search", params={"q": "dogs"},
                              headers=auth(keys.read))).json()  # fmt: skip
    assert [m["message_id"] for m in found["items"]] == [3]
    cats = (await client.get("/v1/history/chats/1/search", params={"q": "cats -note5", "limit": 2},
                             headers=auth(keys.read))).json()  # fmt: skip
    assert [m["message_id"] for m in cats["items"]] == [5, 4]
    assert cats["next_cursor"] is not None


async def test_a_search_with_a_nul_is_a_clear_422(client, keys, conversation) -> None:
    response = await client.get("/v1/history/chats/1/search", params={"q": "dogs\x00"},
                                headers=auth(keys.read))  # fmt: skip
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_series_are_zero_filled_and_top_chats_ranked(client, keys, conversation) -> None:
    hour = conversation.replace(minute=0, second=0)
    params = {
        "from": (hour - timedelta(hours=2)).isoformat(),
        "to": (hour + timedelta(hours=1)).isoformat(),
    }
    series = (await client.get("/v1/stats/chats/1", params=params, headers=auth(keys.read))).json()
    counts = [p["received"] for p in series["points"]]
    assert counts[:2] == [0, 0]
    assert sum(counts) == 5
    whole = (await client.get("/v1/stats/global", params=params | {"bucket": "hour"},
                              headers=auth(keys.read))).json()  # fmt: skip
    assert sum(p["received"] for p in whole["points"]) == 6
    assert sum(p["sent"] for p in whole["points"]) == 1
    assert max(p["active_chats"] for p in whole["points"]) >= 1
    days = (await client.get("/v1/stats/global", params={"bucket": "day", "tz": "Europe/Kyiv"},
                             headers=auth(keys.read))).json()  # fmt: skip
    assert days["time_zone"] == "Europe/Kyiv"
    assert sum(p["received"] for p in days["points"]) == 6
    top = (await client.get("/v1/stats/top-chats", headers=auth(keys.read))).json()
    assert [(c["chat_id"], c["received"], c["sent"]) for c in top["items"]] == [
        (1, 5, 1),
        (2, 1, 0),
    ]


async def test_a_bad_zone_and_a_bad_cursor_are_problems(client, keys, conversation) -> None:
    r = await client.get("/v1/stats/global", params={"bucket": "day", "tz": "Asia/Kolkata"},
                         headers=auth(keys.read))  # fmt: skip
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/v1/history/chats/1/messages", params={"cursor": "bm9wZXxub3Bl"},
                         headers=auth(keys.read))  # fmt: skip
    assert r.status_code == 422


async def test_forgetting_needs_admin_and_erases_the_chat(client, keys, conversation) -> None:
    denied = await client.delete("/v1/history/chats/1", headers=auth(keys.read))
    assert denied.status_code == 403
    done = await client.delete("/v1/history/chats/1", headers=auth(keys.admin))
    assert done.status_code == 200
    assert done.json() == {"bot_id": BOT, "chat_id": 1, "messages": 6}
    last = (await client.get("/v1/history/chats/1/last", headers=auth(keys.read))).json()
    assert last["items"] == []
    top = (await client.get("/v1/stats/top-chats", headers=auth(keys.read))).json()
    assert [c["chat_id"] for c in top["items"]] == [2]


async def test_reads_need_the_read_scope(client, make_key) -> None:
    notify = await make_key("notify")
    for path in ("/v1/history/chats/1/last", "/v1/stats/global", "/v1/stats/top-chats"):
        assert (await client.get(path, headers=auth(notify))).status_code == 403
        assert (await client.get(path)).status_code == 401
