"""Recipients of a broadcast on the in-memory fakes: pending from the slices, the first
outcome of each, blocked told from failed, other sources and others' broadcasts ignored."""

from datetime import UTC, datetime, timedelta

import pytest

from chime_api.adapters.memory import InMemoryRecipients
from chime_api.handlers.recipients import list_recipients, record_outcome, record_slice
from chime_contracts.envelope import envelope_of
from chime_contracts.events import MessageSent, SendBatchRequested, SendFailed
from chime_contracts.events.shared import SendSource
from chime_kit.fakes import InMemoryEvents, InMemoryWork

pytestmark = pytest.mark.unit
# Outcomes come after their slices were handed (published now).
T0 = datetime.now(UTC) + timedelta(hours=1)


def batch(bid, n, chats, kind="broadcast"):
    event = SendBatchRequested(
        batch_id=f"{bid}:{n}", bot_id=7, chat_ids=chats, text="hi",
        source=SendSource(kind=kind, id=bid),
    )  # fmt: skip
    return envelope_of(event, producer="scheduler")


def sent(bid, chat):
    event = MessageSent(
        delivery_id=f"{bid}:{chat}", bot_id=7, chat_id=chat, telegram_message_id=chat,
        attempts=1, sent_at=T0 + timedelta(seconds=chat),
        source=SendSource(kind="broadcast", id=bid),
    )  # fmt: skip
    return envelope_of(event, producer="sender")


def failed(bid, chat, code, description):
    event = SendFailed(
        delivery_id=f"{bid}:{chat}", bot_id=7, chat_id=chat, reason="r", error_code=code,
        description=description, permanent=True, attempts=1, failed_at=T0,
        source=SendSource(kind="broadcast", id=bid),
    )  # fmt: skip
    return envelope_of(event, producer="sender")


async def test_recipients_start_pending_and_keep_their_first_outcome():
    events, recipients = InMemoryEvents(), InMemoryRecipients(ours=["b1"])

    async def feed(handler, *envelopes):
        for envelope in envelopes:
            await handler(InMemoryWork(events, "api", envelope), recipients, envelope)

    # An outcome may come before its slice; a slice comes again on redelivery.
    await feed(record_outcome, sent("b1", 3))
    await feed(record_slice, batch("b1", 0, [1, 2, 3, 4]), batch("b1", 0, [1, 2, 3, 4]))
    await feed(record_slice, batch("b2", 0, [1]), batch("b1", 1, [5], kind="notification"))
    await feed(record_outcome, sent("b1", 1), failed("b1", 1, 400, "late contrary one"))
    await feed(record_outcome, failed("b1", 2, 403, "Forbidden: bot was blocked by the user"))
    await feed(record_outcome, failed("b1", 4, 400, "Bad Request: chat not found"))

    found, more = await list_recipients(recipients, "b1", 10, None, None)
    assert not more
    # The time a recipient became known is its slice's, even when its outcome came first.
    assert [(r.chat_id, r.status) for r in found] == [
        (1, "sent"), (2, "blocked"), (3, "sent"), (4, "failed"),
    ]  # fmt: skip
    assert len({r.created_at for r in found}) == 1
    assert found[1].reason == "r: Forbidden: bot was blocked by the user"
    assert found[1].error_code == 403
    assert found[2].telegram_message_id == 3
    assert [s for s in events.streams if s.startswith("slice-")] == ["slice-b1:0"]
    blocked, _ = await list_recipients(recipients, "b1", 10, None, "blocked")
    assert [r.chat_id for r in blocked] == [2]
    assert await list_recipients(recipients, "b2", 10, None, None) == ([], False)
    page, more = await list_recipients(recipients, "b1", 2, None, None)
    assert more
    rest, _ = await list_recipients(
        recipients, "b1", 2, (page[-1].created_at, page[-1].chat_id), None
    )
    assert [r.chat_id for r in page + rest] == [1, 2, 3, 4]
