import asyncio

import httpx
import pytest
from emulator_harness import Harness, MakeHarness

pytestmark = pytest.mark.unit


def assert_429(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


async def stats(harness: Harness) -> dict[str, object]:
    body: dict[str, object] = (await harness.client.get("/_emulator/stats")).json()
    return body


async def test_token_rate_limit(make_harness: MakeHarness) -> None:
    harness = await make_harness(fake_clock=True, token_rate=3)
    for user_id in range(1, 5):
        await harness.private_chat(user_id)
    for user_id in range(1, 4):
        await harness.ok("sendMessage", chat_id=user_id, text="hi")
    assert_429(await harness.call("sendMessage", chat_id=4, text="hi"), 1)
    harness.clock.advance(1.0)
    await harness.ok("sendMessage", chat_id=4, text="hi")
    counters = await stats(harness)
    assert counters["sent_total"] == 4
    assert counters["rejected_429"] == 1
    assert counters["breaches"] == {"token": 1, "chat": 0, "group": 0}


async def test_private_chat_interval_with_a_real_wait(make_harness: MakeHarness) -> None:
    harness = await make_harness(private_chat_interval=0.3)
    await harness.private_chat(7)
    await harness.private_chat(8)
    await harness.ok("sendMessage", chat_id=7, text="one")
    assert_429(await harness.call("sendMessage", chat_id=7, text="two"), 1)
    await harness.ok("sendMessage", chat_id=8, text="other chat")
    await asyncio.sleep(0.35)
    await harness.ok("sendMessage", chat_id=7, text="two")
    assert (await stats(harness))["breaches"] == {"token": 0, "chat": 1, "group": 0}


async def test_group_rate_limit(make_harness: MakeHarness) -> None:
    harness = await make_harness(fake_clock=True, group_rate_per_minute=20)
    group = await harness.control("/chats", {"type": "supergroup", "title": "G"})
    for _ in range(20):
        await harness.ok("sendMessage", chat_id=group["id"], text="hi")
        harness.clock.advance(0.5)
    # The first send was 10 s ago, so the window frees up in 50 s.
    assert_429(await harness.call("sendMessage", chat_id=group["id"], text="hi"), 50)
    harness.clock.advance(50)
    await harness.ok("sendMessage", chat_id=group["id"], text="hi")
    counters = await stats(harness)
    assert counters["breaches"] == {"token": 0, "chat": 0, "group": 1}
    assert counters["sent_per_bot"] == {"123456": 21}


async def test_rejected_messages_are_not_recorded_as_sent(make_harness: MakeHarness) -> None:
    harness = await make_harness(fake_clock=True, private_chat_interval=1.0)
    await harness.private_chat(7)
    await harness.ok("sendMessage", chat_id=7, text="one")
    for _ in range(3):
        await harness.call("sendMessage", chat_id=7, text="again")
    sent = (await harness.client.get("/_emulator/bots/123456/sent")).json()["messages"]
    assert [message["text"] for message in sent] == ["one"]
    assert (await stats(harness))["rejected_429"] == 3


async def test_paid_broadcast_raises_the_token_limit_only_when_sent(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(fake_clock=True, token_rate=3, paid_broadcast_rate=5)
    for user_id in range(1, 8):
        await harness.private_chat(user_id)
    for user_id in range(1, 4):
        await harness.ok("sendMessage", chat_id=user_id, text="hi")
    assert_429(await harness.call("sendMessage", chat_id=4, text="hi"), 1)
    for user_id in (4, 5):
        await harness.ok("sendMessage", chat_id=user_id, text="hi", allow_paid_broadcast=True)
    assert_429(
        await harness.call("sendMessage", chat_id=6, text="hi", allow_paid_broadcast=True), 1
    )
    counters = await stats(harness)
    assert counters["paid_broadcast_sent"] == 2
    assert counters["breaches"] == {"token": 2, "chat": 0, "group": 0}
    assert counters["breaches_per_bot"] == {"123456": {"token": 2, "chat": 0, "group": 0}}


async def test_channels_have_the_group_limit(make_harness: MakeHarness) -> None:
    harness = await make_harness(fake_clock=True, group_rate_per_minute=2)
    channel = await harness.control("/chats", {"type": "channel", "title": "C"})
    for _ in range(2):
        await harness.ok("sendMessage", chat_id=channel["id"], text="hi")
    assert_429(await harness.call("sendMessage", chat_id=channel["id"], text="hi"), 60)
    assert (await stats(harness))["breaches"] == {"token": 0, "chat": 0, "group": 1}


async def test_a_bad_request_uses_no_rate_limit_slot(make_harness: MakeHarness) -> None:
    harness = await make_harness(fake_clock=True, token_rate=1)
    await harness.private_chat(7)
    bad = await harness.call("sendMessage", chat_id=7, text="<b>", parse_mode="HTML")
    assert bad.status_code == 400
    missing = await harness.call("sendMessage", chat_id=8, text="no such chat")
    assert missing.status_code == 400
    assert (await harness.ok("sendMessage", chat_id=7, text="fine"))["message_id"] == 1
