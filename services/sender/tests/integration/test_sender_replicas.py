"""Two sender replicas on one bot token: together they stay under Telegram's rate."""

import asyncio
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from sender_harness import TOKEN, Emulator, TelegramSpy, request

from chime_kit.testing import EventTap
from chime_sender.entrypoints.service import Sender

pytestmark = pytest.mark.integration

MESSAGES = 120
RATE = 30  # the emulator's default limit per token, and the sender's


@dataclass
class Counting(TelegramSpy):
    """Counts one replica's Bot API calls, to show both replicas took part."""

    calls: int = 0

    def before_call(self) -> None:
        self.calls += 1


async def test_two_replicas_share_one_token_budget(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    chats = range(2000, 2000 + MESSAGES)
    for chat in [*chats, 1998, 1999]:
        await emulator.private_chat(chat)
    replicas: list[Sender] = [await start_sender(emulator) for _ in range(2)]
    # A running replica's connection to Telegram is open; a cold one's set-up would delay
    # the first request by more than the margin for jitter. Warm both, then let the
    # emulator's one-second window forget those sends.
    for warm_chat, replica in zip((1998, 1999), replicas, strict=True):
        assert (
            await replica.deps.telegram.call(
                SecretStr(TOKEN), "sendMessage", {"chat_id": warm_chat, "text": "warm"}
            )
        ).ok
    await asyncio.sleep(1.1)
    counters = []
    for replica in replicas:
        counter = Counting(replica.delivery.sending.api)
        replica.delivery.sending.api = counter
        counters.append(counter)

    await asyncio.gather(
        *(tap.publish(request(f"d-r-{chat}", chat, f"to {chat}")) for chat in chats)
    )
    await tap.envelopes_of("message.sent.v1", count=MESSAGES, within=60)

    sent = [m for m in await emulator.sent() if m["chat"]["id"] in chats]
    assert sorted(m["chat"]["id"] for m in sent) == list(chats)
    stats = await emulator.stats()
    assert stats["rejected_429"] == 0
    assert set(stats["breaches"].values()) == {0}
    assert all(c.calls > 0 for c in counters), [c.calls for c in counters]

    times = sorted(m["sent_at"] for m in sent)
    # Paced, not just lucky: 120 sends at 30/s take about 4 s (no upper bound: shared machine).
    assert times[-1] - times[0] >= 3.5
    # No one-second window holds more than RATE sends of the bot.
    spans = [b - a for a, b in zip(times, times[RATE:], strict=False)]
    assert [s for s in spans if s < 1.0] == []
    span = times[-1] - times[0]
    print(
        f"\n{MESSAGES} sends by 2 replicas in {span:.2f} s: {(MESSAGES - 1) / span:.1f}/s;"
        f" calls per replica {[c.calls for c in counters]};"
        f" tightest {RATE + 1} sends span {min(spans):.3f} s"
    )
