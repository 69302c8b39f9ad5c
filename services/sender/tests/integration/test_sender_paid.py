"""Paid broadcasts through the emulator, which enforces Telegram's limits: with paid
broadcasting enabled for the bot, a batch goes faster than the free rate and no call is
refused; without it, the flag is dropped and the free rate kept."""

import itertools

import pytest
from sender_harness import BOT_ID, Emulator

from chime_contracts.envelope import envelope_of
from chime_contracts.events import SendBatchRequested
from chime_contracts.events.shared import SendSource
from chime_kit.testing import EventTap

pytestmark = pytest.mark.integration

FREE_RATE = 5  # small rates keep the test short and far from this machine's own limits
PAID_RATE = 60
CHATS = list(range(5001, 5041))


def batch(batch_id: str, paid: bool) -> SendBatchRequested:
    return SendBatchRequested(
        batch_id=batch_id, bot_id=BOT_ID, chat_ids=CHATS, text="news",
        source=SendSource(kind="broadcast", id=batch_id), paid_broadcast=paid,
    )  # fmt: skip


def most_in_a_second(sent_at: list[float]) -> int:
    times = sorted(sent_at)
    return max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))


async def _sent_times(emulator: Emulator) -> list[float]:
    return [m["sent_at"] for chat in CHATS for m in await emulator.sent(chat)]


@pytest.mark.parametrize("enabled", [True, False], ids=["paid enabled", "paid not enabled"])
async def test_a_paid_broadcast_keeps_the_limit_it_is_allowed(
    emulator_factory, start_sender, tap: EventTap, enabled: bool
) -> None:
    emulator: Emulator = await emulator_factory(token_rate=FREE_RATE, paid_broadcast_rate=PAID_RATE)
    for chat in CHATS:
        await emulator.private_chat(chat)
    limits = {str(BOT_ID): {"paid_rate": PAID_RATE}} if enabled else {}
    await start_sender(emulator, token_rate=FREE_RATE, bot_limits=limits)

    await tap.publish(envelope_of(batch("paid-1", paid=True), producer="scheduler"))
    await tap.envelopes_of("message.sent.v1", count=len(CHATS), within=60)

    stats = await emulator.stats()
    assert stats["rejected_429"] == 0
    busiest = most_in_a_second(await _sent_times(emulator))
    if enabled:
        # Faster than the free rate allows: the emulator let it through for the flag only.
        assert FREE_RATE < busiest <= PAID_RATE
    else:
        assert busiest <= FREE_RATE
    assert len(list(itertools.chain(*[await emulator.sent(c) for c in CHATS]))) == len(CHATS)
