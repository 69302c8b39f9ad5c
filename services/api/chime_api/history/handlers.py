"""What happens on each event history follows, and on a request to forget a chat.

Each handler turns its event into facts, keeps those inside the partition window in the
history log and folds them into the projection, in the consumer's transaction. A send's
request and its outcome come on different queues in either order: they meet in
`history_deliveries`, and whichever comes second records what the first could not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chime_api.history.adapters import log
from chime_api.history.adapters.partitions import current_window
from chime_api.history.adapters.projection import HistoryProjection, add_deltas
from chime_api.history.domain.facts import (
    Blocked,
    Fact,
    Outcome,
    TextJoined,
    chat_key,
    filled,
    received_of,
)
from chime_api.history.domain.rollups import deltas_of
from chime_api.history.events import ChatHistoryForgotten
from chime_contracts.envelope import Envelope
from chime_contracts.events import (
    ChatMemberChanged,
    MessageReceived,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    SendRequested,
)
from chime_kit.db import Connection
from chime_kit.streams import Aggregate, decide
from chime_kit.unit_of_work import UnitOfWork

# Every fact adds to the same global rollup rows, so history's writers take turns anyway;
# taking turns explicitly, before any row lock, means they can never deadlock (consumers of
# several queues, replicas, batches touching bots and keys in different orders, forget).
WRITERS_LOCK = 0x68697374  # "hist"


async def take_turn(conn: Connection) -> None:
    """Wait for history's other writers; held until this transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITERS_LOCK)


class HistoryBatch:
    """The facts of one transaction (a consumer's batch), logged and folded together just
    before it commits."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.facts: list[Fact] = []
        self._turn = False

    async def take_turn(self) -> None:
        if not self._turn:
            await take_turn(self.conn)
            self._turn = True

    async def flush(self) -> None:
        if self.facts:
            await keep(self.conn, self.facts)
            self.facts = []


async def batch_of(uow: UnitOfWork) -> HistoryBatch:
    """This transaction's batch, its turn taken."""
    batch = uow.before_commit("history", lambda: HistoryBatch(uow.conn))
    await batch.take_turn()
    return batch


async def keep(conn: Connection, facts: Sequence[Fact]) -> int:
    """Log and fold the facts that fall inside the window; how many were kept (a fact
    older than the retention, or days ahead, is not)."""
    window = await current_window(conn)
    if window is None:
        raise RuntimeError("history partitions are not made yet; the event comes back later")
    inside = [f for f in facts if window.holds(f.at)]
    if inside:
        await HistoryProjection(conn).apply(await log.append(conn, inside))
    return len(inside)


async def message_received(uow: UnitOfWork, envelope: Envelope[MessageReceived]) -> None:
    (await batch_of(uow)).facts.append(received_of(envelope.data))


async def member_changed(uow: UnitOfWork, envelope: Envelope[ChatMemberChanged]) -> None:
    change = envelope.data
    if change.new_state == "kicked" and change.old_state != "kicked":
        blocked = Blocked(bot_id=change.bot_id, chat_id=change.chat_id, at=change.changed_at)
        (await batch_of(uow)).facts.append(blocked)


async def send_requested(uow: UnitOfWork, envelope: Envelope[SendRequested]) -> None:
    r = envelope.data
    text = filled(r.text, r.variables)
    await _requested(uow, [(r.delivery_id, r.bot_id, r.chat_id, text)], envelope.occurred_at)


async def batch_requested(uow: UnitOfWork, envelope: Envelope[SendBatchRequested]) -> None:
    """The sender names a batch's deliveries `<batch_id>:<chat_id>` (one per chat)."""
    b = envelope.data
    text = filled(b.text, b.variables)
    rows = [(f"{b.batch_id}:{chat}", b.bot_id, chat, text) for chat in dict.fromkeys(b.chat_ids)]
    await _requested(uow, rows, envelope.occurred_at)


_REQUESTED = """
INSERT INTO history_deliveries AS d (delivery_id, bot_id, chat_id, text, requested_at)
SELECT delivery_id, bot_id, chat_id, text, $5
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
    AS t(delivery_id, bot_id, chat_id, text)
ON CONFLICT (delivery_id) DO UPDATE SET text = excluded.text, requested_at = excluded.requested_at
    WHERE d.requested_at IS NULL
RETURNING delivery_id, bot_id, chat_id, text, requested_at, outcome
"""


async def _requested(
    uow: UnitOfWork, rows: list[tuple[str, int, int, str]], requested_at: datetime
) -> None:
    batch = await batch_of(uow)
    returned = await uow.conn.fetch(
        _REQUESTED, *[list(c) for c in zip(*rows, strict=True)], requested_at
    )
    for row in returned:
        outcome = row["outcome"]
        if outcome is None:
            continue  # the outcome will find the request
        at = datetime.fromisoformat(outcome["at"])
        sent = outcome["kind"] == "sent"
        batch.facts.append(
            TextJoined(
                bot_id=row["bot_id"], chat_id=row["chat_id"], at=at,
                delivery_id=row["delivery_id"], text=row["text"],
                api_key_id=outcome.get("api_key_id"),
                latency_ms=_ms(at - requested_at) if sent else None,
            )
        )  # fmt: skip


_OUTCOME = """
INSERT INTO history_deliveries AS d (delivery_id, bot_id, chat_id, outcome)
VALUES ($1, $2, $3, $4)
ON CONFLICT (delivery_id) DO UPDATE SET outcome = excluded.outcome WHERE d.outcome IS NULL
RETURNING text, requested_at
"""


async def send_outcome(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    """A delivery's end: joined with its request if that came first; a second outcome of
    the same delivery changes nothing."""
    e: MessageSent | SendFailed = envelope.data
    sent = isinstance(e, MessageSent)
    at = e.sent_at if isinstance(e, MessageSent) else e.failed_at
    source_kind = e.source.kind if e.source is not None else None
    api_key_id = await _key_of(uow.conn, e)
    note = {"kind": "sent" if sent else "failed", "at": at.isoformat(), "api_key_id": api_key_id}
    batch = await batch_of(uow)
    row = await uow.conn.fetchrow(_OUTCOME, e.delivery_id, e.bot_id, e.chat_id, note)
    if row is None:
        return
    requested_at = row["requested_at"]
    batch.facts.append(
            Outcome(
                kind="sent" if sent else "failed", bot_id=e.bot_id, chat_id=e.chat_id, at=at,
                delivery_id=e.delivery_id,
                message_id=e.telegram_message_id if isinstance(e, MessageSent) else None,
                text=row["text"], source_kind=source_kind, api_key_id=api_key_id,
                latency_ms=_ms(at - requested_at) if sent and requested_at else None,
                reason=None if isinstance(e, MessageSent) else e.reason,
            )
    )  # fmt: skip


async def _key_of(conn: Connection, e: MessageSent | SendFailed) -> str | None:
    """The API key behind an api notification (the api's own notifications table)."""
    if e.source is None or e.source.kind != "notification":
        return None
    key: str | None = await conn.fetchval(
        "SELECT api_key_id FROM notifications WHERE id = $1", e.source.id
    )
    return key


def _ms(delta: Any) -> float:
    return float(max(0.0, delta.total_seconds() * 1000))


# --- forgetting a chat --------------------------------------------------------------------

FORGOTTEN: Aggregate[int] = Aggregate(0, lambda n, _: n + 1)


@dataclass(frozen=True)
class Forgotten:
    messages: int
    facts: int


async def forget_chat(
    uow: UnitOfWork, bot_id: int, chat_id: int, api_key_id: str | None = None
) -> Forgotten:
    """Erase a chat's history, its log and its share of every rollup (as if its facts had
    never been applied), and record that it was done."""
    conn = uow.conn
    await take_turn(conn)
    ids = {r["id"] for r in await conn.fetch(
        "SELECT id FROM history_messages WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
    )}  # fmt: skip
    counted: list[Fact] = []
    facts = 0
    async for batch in log.read(conn, 5000, chat=(bot_id, chat_id)):
        facts += len(batch)
        counted += [f for p, f in batch if p in ids or isinstance(f, Blocked | TextJoined)]
    if counted:
        await add_deltas(conn, deltas_of(counted), sign=-1)
    await conn.execute(
        "DELETE FROM history_messages WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
    )
    await conn.execute(
        "DELETE FROM history_log WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
    )
    await conn.execute(
        "DELETE FROM history_deliveries WHERE bot_id = $1 AND chat_id = $2", bot_id, chat_id
    )
    event = ChatHistoryForgotten(
        bot_id=bot_id, chat_id=chat_id, messages=len(ids), facts=facts,
        forgotten_at=datetime.now(UTC), api_key_id=api_key_id,
    )  # fmt: skip
    # Wrapped here, so the event stays in the api's store and is not published.
    await decide(
        uow, f"history-chat-{chat_key(bot_id, chat_id)}", FORGOTTEN, lambda _: [uow.wrap(event)]
    )
    return Forgotten(len(ids), facts)
