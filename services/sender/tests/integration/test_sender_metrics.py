"""The sender's metrics from real deliveries: bus -> sender -> emulator, real PG and RabbitMQ."""

import pytest
from prometheus_client import REGISTRY
from sender_harness import Emulator, request

from chime_kit.testing import EventTap

pytestmark = pytest.mark.integration

LIMITER_WAIT = "chime_sender_limiter_wait_seconds"


def limiter_wait() -> tuple[float, float]:
    """The limiter wait histogram's (count, sum) so far."""
    labels = {"service": "sender"}
    count = REGISTRY.get_sample_value(f"{LIMITER_WAIT}_count", labels) or 0.0
    total = REGISTRY.get_sample_value(f"{LIMITER_WAIT}_sum", labels) or 0.0
    return count, total


async def test_the_wait_for_a_paced_chat_is_observed_once_per_call(
    emulator: Emulator, start_sender, tap: EventTap
) -> None:
    await emulator.private_chat(60)
    await start_sender(emulator, chat_interval=1.0)
    count_before, sum_before = limiter_wait()
    await tap.publish(request("d-wait-1", 60, "first"))
    await tap.publish(request("d-wait-2", 60, "second"))

    await tap.envelopes_of("message.sent.v1", count=1, within=10)
    # The second waits a second for the chat: its call (and its observation) is still ahead.
    count_first, sum_first = limiter_wait()
    assert count_first - count_before == 1
    assert sum_first - sum_before < 0.5

    await tap.envelopes_of("message.sent.v1", count=2, within=10)
    count_after, sum_after = limiter_wait()
    assert count_after - count_before == 2
    assert sum_after - sum_first >= 0.8
    assert [m["text"] for m in await emulator.sent(60)] == ["first", "second"]
