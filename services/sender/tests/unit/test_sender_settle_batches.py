"""The settler lets answers gather for a moment and writes them in one batch; an answer with
an error (a 429 pauses its bot) is settled at once, with whatever has gathered."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from chime_kit.telegram import Answer
from chime_sender.domain.circuit import Breakers
from chime_sender.domain.deliveries import Claim, Delivery
from chime_sender.domain.limits import Limits
from chime_sender.domain.outcomes import RetryPolicy
from chime_sender.domain.settlement import Policy, Settlement
from chime_sender.entrypoints.delivery import DeliveryLoop
from chime_sender.handlers import Local, Sending
from chime_sender.handlers.call import Called

OK = Answer(ok=True, result={"message_id": 1})
RATE_LIMITED = Answer(ok=False, error_code=429, description="Too Many Requests", retry_after=1)


class Runtime:
    """What the loop's constructor uses of the runtime; nothing here touches a database."""

    def watch(self, loop: Any) -> Any:
        return loop


def called(n: int, answer: Answer = OK) -> Called:
    delivery = Delivery(
        delivery_id=f"d{n}", bot_id=1, chat_id=n, text="hi", parse_mode=None,
        reply_to_message_id=None, correlation_id="c", traceparent=None,
    )  # fmt: skip
    return Called(Claim(delivery, 1, 0, 0, None, False), answer)


class Recording(DeliveryLoop):
    """Records each batch it would settle instead of writing it."""

    batches: list[list[str]]

    async def _settle(self, calls: list[Called]) -> list[Settlement]:
        self.batches.append([c.claim.delivery.delivery_id for c in calls])
        return [None] * len(calls)  # type: ignore[list-item]  # unused here


@pytest.fixture
async def loop(request: pytest.FixtureRequest) -> AsyncIterator[Recording]:
    sending = Sending(
        api=None,  # type: ignore[arg-type]  # no calls are made
        tokens={1: SecretStr("1:x")},
        policy=Policy(Limits(), RetryPolicy(2, 0.01, 0.01)),
        local=Local(breakers=Breakers()),
    )
    made = Recording(
        Runtime(),  # type: ignore[arg-type]
        sending,
        batch_size=10,
        concurrency=10,
        lease_seconds=10.0,
        max_idle_seconds=0.1,
        settle_batch_size=10,
        settle_linger_seconds=request.param,
    )
    made.batches = []
    settler = asyncio.create_task(made._settle_answers())
    yield made
    settler.cancel()
    await asyncio.gather(settler, return_exceptions=True)


@pytest.mark.parametrize("loop", [30.0], indirect=True)
async def test_answers_wait_for_an_urgent_one_and_go_with_it(loop: Recording) -> None:
    waiting = [loop._submit(called(n)) for n in range(3)]
    await asyncio.sleep(0.05)
    assert loop.batches == []  # still gathering: the linger is long
    urgent = loop._submit(called(3, RATE_LIMITED))
    await asyncio.wait_for(asyncio.gather(*waiting, urgent), 10)
    assert loop.batches == [["d0", "d1", "d2", "d3"]]


@pytest.mark.parametrize("loop", [0.01], indirect=True)
async def test_answers_are_settled_once_the_linger_is_over(loop: Recording) -> None:
    await asyncio.wait_for(asyncio.gather(*(loop._submit(called(n)) for n in range(2))), 10)
    assert loop.batches == [["d0", "d1"]]
    await asyncio.wait_for(loop._submit(called(2)), 10)
    assert loop.batches == [["d0", "d1"], ["d2"]]


@pytest.mark.parametrize("loop", [30.0], indirect=True)
async def test_a_full_batch_does_not_wait(loop: Recording) -> None:
    answers = [called(n) for n in range(10)]
    futures = [loop._submit(c) for c in answers]
    await asyncio.wait_for(asyncio.gather(*futures), 10)
    assert loop.batches == [[f"d{n}" for n in range(10)]]
