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
from chime_api.history.adapters.partitions import Window, current_window
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


@dataclass(frozen=True)
class Requested:
    delivery_id: str
    bot_id: int
    chat_id: int
    text: str
    at: datetime


class HistoryBatch:
    """What the handlers of one transaction (a consumer's batch) saw, written together just
    before it commits: the turn and the window in one statement, the send requests and the
    outcomes met with `history_deliveries` in one statement each, then the facts logged and
    folded (`keep`). The turn is taken at the flush, so it is held only while writing."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.facts: list[Fact] = []
        self.requests: list[Requested] = []
        self.outcomes: list[MessageSent | SendFailed] = []

    async def flush(self) -> None:
        if not (self.facts or self.requests or self.outcomes):
            return
        window = await _turn_and_window(self.conn)
        facts = await _met_requests(self.conn, self.requests)
        facts += await _met_outcomes(self.conn, self.outcomes)
        await keep(self.conn, facts + self.facts, window)
        self.facts, self.requests, self.outcomes = [], [], []


def batch_of(uow: UnitOfWork) -> HistoryBatch:
    """This transaction's batch."""
    return uow.before_commit("history", lambda: HistoryBatch(uow.conn))


async def _turn_and_window(conn: Connection) -> Window:
    row = await conn.fetchrow(
        "SELECT w.horizon, w.ahead FROM pg_advisory_xact_lock($1) AS turn"
        " LEFT JOIN history_window AS w ON true",
        WRITERS_LOCK,
    )
    if row is None or row["horizon"] is None:
        raise RuntimeError("history partitions are not made yet; the event comes back later")
    return Window(row["horizon"], row["ahead"])


async def keep(conn: Connection, facts: Sequence[Fact], window: Window | None = None) -> int:
    """Log and fold the facts that fall inside the window; how many were kept (a fact
    older than the retention, or days ahead, is not)."""
    if window is None:
        window = await current_window(conn)
        if window is None:
            raise RuntimeError("history partitions are not made yet; the event comes back later")
    inside = [f for f in facts if window.holds(f.at)]
    if inside:
        await HistoryProjection(conn).apply(await log.append(conn, inside))
    return len(inside)


async def message_received(uow: UnitOfWork, envelope: Envelope[MessageReceived]) -> None:
    batch_of(uow).facts.append(received_of(envelope.data))


async def member_changed(uow: UnitOfWork, envelope: Envelope[ChatMemberChanged]) -> None:
    change = envelope.data
    if change.new_state == "kicked" and change.old_state != "kicked":
        blocked = Blocked(bot_id=change.bot_id, chat_id=change.chat_id, at=change.changed_at)
        batch_of(uow).facts.append(blocked)


async def send_requested(uow: UnitOfWork, envelope: Envelope[SendRequested]) -> None:
    r = envelope.data
    text = filled(r.text, r.variables)
    batch_of(uow).requests.append(
        Requested(r.delivery_id, r.bot_id, r.chat_id, text, envelope.occurred_at)
    )


async def batch_requested(uow: UnitOfWork, envelope: Envelope[SendBatchRequested]) -> None:
    """The sender names a batch's deliveries `<batch_id>:<chat_id>` (one per chat), or, when
    the batch lists `deliveries` (a firing's occurrences), by each one's own id and text."""
    b = envelope.data
    if b.deliveries is not None:
        batch_of(uow).requests.extend(
            Requested(d.delivery_id, b.bot_id, d.chat_id, filled(d.text, d.variables),
                      envelope.occurred_at)
            for d in b.deliveries
        )  # fmt: skip
        return
    text = filled(b.text, b.variables)
    batch_of(uow).requests.extend(
        Requested(f"{b.batch_id}:{chat}", b.bot_id, chat, text, envelope.occurred_at)
        for chat in dict.fromkeys(b.chat_ids)
    )


async def send_outcome(uow: UnitOfWork, envelope: Envelope[Any]) -> None:
    """A delivery's end: joined with its request if that came first; a second outcome of
    the same delivery changes nothing."""
    batch_of(uow).outcomes.append(envelope.data)


_REQUESTED = """
INSERT INTO history_deliveries AS d (delivery_id, bot_id, chat_id, text, requested_at)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[])
ON CONFLICT (delivery_id) DO UPDATE SET text = excluded.text, requested_at = excluded.requested_at
    WHERE d.requested_at IS NULL
RETURNING delivery_id, bot_id, chat_id, outcome
"""


async def _met_requests(conn: Connection, requests: list[Requested]) -> list[Fact]:
    """Record the requests (the first of a delivery wins, in the batch as across batches);
    each whose outcome came first gives the outcome's row its text (and latency)."""
    first = {r.delivery_id: r for r in reversed(requests)}  # the first of each delivery
    if not first:
        return []
    rows = list(first.values())
    returned = await conn.fetch(
        _REQUESTED,
        [r.delivery_id for r in rows],
        [r.bot_id for r in rows],
        [r.chat_id for r in rows],
        [r.text for r in rows],
        [r.at for r in rows],
    )
    met = {row["delivery_id"]: row for row in returned}
    facts: list[Fact] = []
    for r in requests:
        row = met.pop(r.delivery_id, None)
        if row is None or row["outcome"] is None:
            continue  # met before, or new: the outcome will find the request
        outcome = row["outcome"]
        at = datetime.fromisoformat(outcome["at"])
        sent = outcome["kind"] == "sent"
        facts.append(
            TextJoined(
                bot_id=row["bot_id"], chat_id=row["chat_id"], at=at, delivery_id=r.delivery_id,
                text=r.text, api_key_id=outcome.get("api_key_id"),
                latency_ms=_ms(at - r.at) if sent else None,
            )
        )  # fmt: skip
    return facts


# The API key behind an api notification comes from the api's own notifications table.
_OUTCOME = """
INSERT INTO history_deliveries AS d (delivery_id, bot_id, chat_id, outcome)
SELECT t.delivery_id, t.bot_id, t.chat_id,
    jsonb_build_object('kind', t.kind, 'at', t.at, 'api_key_id', n.api_key_id)
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[])
    AS t(delivery_id, bot_id, chat_id, kind, at, notification)
LEFT JOIN notifications n ON n.id = t.notification
ON CONFLICT (delivery_id) DO UPDATE SET outcome = excluded.outcome WHERE d.outcome IS NULL
RETURNING delivery_id, text, requested_at, outcome ->> 'api_key_id' AS api_key_id
"""


async def _met_outcomes(conn: Connection, outcomes: list[MessageSent | SendFailed]) -> list[Fact]:
    """Record the outcomes (the first of a delivery wins); each first one is a fact, with
    its request's text and latency when the request came first."""
    first = {e.delivery_id: e for e in reversed(outcomes)}
    if not first:
        return []
    rows = list(first.values())
    returned = await conn.fetch(
        _OUTCOME,
        [e.delivery_id for e in rows],
        [e.bot_id for e in rows],
        [e.chat_id for e in rows],
        ["sent" if isinstance(e, MessageSent) else "failed" for e in rows],
        [_outcome_at(e).isoformat() for e in rows],
        [e.source.id if e.source is not None and e.source.kind == "notification" else None
         for e in rows],
    )  # fmt: skip
    met = {row["delivery_id"]: row for row in returned}
    facts: list[Fact] = []
    for e in outcomes:
        row = met.pop(e.delivery_id, None)
        if row is None:
            continue  # a second outcome of the delivery
        sent = isinstance(e, MessageSent)
        at = _outcome_at(e)
        requested_at = row["requested_at"]
        facts.append(
            Outcome(
                kind="sent" if sent else "failed", bot_id=e.bot_id, chat_id=e.chat_id, at=at,
                delivery_id=e.delivery_id,
                message_id=e.telegram_message_id if isinstance(e, MessageSent) else None,
                text=row["text"], source_kind=e.source.kind if e.source is not None else None,
                api_key_id=row["api_key_id"],
                latency_ms=_ms(at - requested_at) if sent and requested_at else None,
                reason=None if isinstance(e, MessageSent) else e.reason,
            )
        )  # fmt: skip
    return facts


def _outcome_at(e: MessageSent | SendFailed) -> datetime:
    return e.sent_at if isinstance(e, MessageSent) else e.failed_at


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
