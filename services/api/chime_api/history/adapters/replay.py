"""Rebuilding history from its log, one day at a time, folded in memory and copied in.

Everything a fact changes lies in its own day (its message at `at`, the hour and the day of
`at`), so each day's facts are folded alone, in log order, by the same rules as
`HistoryProjection` (the first fact of a message names its row, the newest edit gives its
text, a late text fills its outgoing row, every row-making fact, text and block counts), and
written with COPY into the emptied tables. The rebuild tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chime_api.history.adapters.partitions import existing
from chime_api.history.adapters.projection import counts_json
from chime_api.history.domain.buckets import DAY
from chime_api.history.domain.facts import FACT, Blocked, Fact, Outcome, Received, TextJoined
from chime_api.history.domain.rollups import deltas_of
from chime_kit.db import Connection

_MESSAGE_COLUMNS = (
    "id", "bot_id", "chat_id", "at", "direction", "message_id", "user_id", "content_type",
    "text", "command", "reply_to_message_id", "edited_at", "delivery_id", "source_kind",
    "status", "failure_reason",
)  # fmt: skip
# jsonb goes in as text: the pool's json codec has no binary form for COPY.
_INSERT_ROLLUPS = """
INSERT INTO stats_rollups (scope, scope_id, granularity, bucket, received, received_by_kind,
    sent, failed, failed_by_reason, blocked, latency, active_chats, active_users)
SELECT s, i, g, b, rc, rk::jsonb, se, f, fr::jsonb, bl, l::bigint[], ac, au
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[],
    $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::text[], $12::bigint[],
    $13::bigint[]) AS t(s, i, g, b, rc, rk, se, f, fr, bl, l, ac, au)
"""
_MEMBER_COLUMNS = ("scope", "scope_id", "granularity", "bucket", "member", "received")


class DayFold:
    """One day's facts folded as the projection would fold them, one after the other."""

    def __init__(self) -> None:
        # key -> (id, first fact, the version whose text it shows)
        self.incoming: dict[tuple[int, int, int, datetime], tuple[int, Received, Received]] = {}
        self.outgoing: dict[tuple[str, datetime], tuple[int, Outcome, str | None]] = {}
        self.counted: list[Fact] = []

    def add(self, position: int, fact: Fact) -> None:
        if isinstance(fact, Received):
            key = (fact.bot_id, fact.chat_id, fact.message_id, fact.at)
            known = self.incoming.get(key)
            if known is None:
                self.incoming[key] = (position, fact, fact)
                self.counted.append(fact)
            elif fact.edited_at is not None and (
                known[2].edited_at is None or fact.edited_at > known[2].edited_at
            ):
                self.incoming[key] = (known[0], known[1], fact)
        elif isinstance(fact, Outcome):
            out_key = (fact.delivery_id, fact.at)
            if out_key not in self.outgoing:
                self.outgoing[out_key] = (position, fact, fact.text)
                self.counted.append(fact)
        elif isinstance(fact, TextJoined):
            found = self.outgoing.get((fact.delivery_id, fact.at))
            if found is not None:
                self.outgoing[(fact.delivery_id, fact.at)] = (found[0], found[1], fact.text)
            self.counted.append(fact)
        elif isinstance(fact, Blocked):
            self.counted.append(fact)

    def messages(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = [
            (i, f.bot_id, f.chat_id, f.at, "in", f.message_id, f.user_id, shown.content_type,
             shown.text, f.command, f.reply_to_message_id, shown.edited_at, None, None,
             "received", None)
            for i, f, shown in self.incoming.values()
        ]  # fmt: skip
        rows += [
            (i, f.bot_id, f.chat_id, f.at, "out", f.message_id, None, "text", text, None, None,
             None, f.delivery_id, f.source_kind, f.kind, f.reason)
            for i, f, text in self.outgoing.values()
        ]  # fmt: skip
        return rows

    def stats(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rollup rows and the member rows of the day."""
        deltas = deltas_of(self.counted)
        active: dict[tuple[str, str, str, datetime], list[int]] = {}
        members = []
        for (key, member), n in deltas.members.items():
            members.append((*key, member, n))
            active.setdefault(key, [0, 0])[0 if member.startswith("c") else 1] += 1
        rollups = []
        for key, c in deltas.counters.items():
            chats, users = active.get(key, (0, 0))
            rollups.append((
                *key, c.received, counts_json(c.received_by_kind), c.sent, c.failed,
                counts_json(c.failed_by_reason), c.blocked, c.latency, chats, users,
            ))  # fmt: skip
        return rollups, members


async def replay(conn: Connection, batch_size: int) -> int:
    """Fold the whole history log into the (empty) history tables; how many facts."""
    days = sorted((await existing(conn))["history_log"])
    total = 0
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        total += await _replay_day(conn, start, batch_size)
    return total


async def _replay_day(conn: Connection, start: datetime, batch_size: int) -> int:
    fold = DayFold()
    n = 0
    cursor = conn.cursor(
        "SELECT position, fact FROM history_log WHERE at >= $1 AND at < $2 ORDER BY position",
        start,
        start + DAY,
        prefetch=batch_size,
    )
    async for row in cursor:
        fold.add(row["position"], FACT.validate_python(row["fact"]))
        n += 1
    if n:
        rollups, members = fold.stats()
        await _copy(conn, "history_messages", _MESSAGE_COLUMNS, fold.messages())
        await _insert_rollups(conn, rollups)
        await _copy(conn, "stats_members", _MEMBER_COLUMNS, members)
    return n


async def _insert_rollups(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        columns[10] = ["{" + ",".join(map(str, h)) + "}" for h in columns[10]]
        await conn.execute(_INSERT_ROLLUPS, *columns)


async def _copy(
    conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if rows:
        await conn.copy_records_to_table(table, records=rows, columns=list(columns))
