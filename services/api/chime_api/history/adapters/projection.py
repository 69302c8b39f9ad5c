"""The history projection: facts (with their log positions) folded into the messages and
the rollups in a few set-based statements per batch, the same code live and in a rebuild."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chime_api.history.domain import latency
from chime_api.history.domain.facts import Blocked, Fact, Outcome, Received, TextJoined
from chime_api.history.domain.rollups import Counters, Deltas, Key, deltas_of
from chime_kit.db import Connection

Positioned = tuple[int, Fact]
TABLES = ("history_messages", "stats_rollups", "stats_members")

_INSERT_RECEIVED = """
INSERT INTO history_messages AS m (id, bot_id, chat_id, at, direction, message_id, user_id,
    content_type, text, command, reply_to_message_id, edited_at, status)
SELECT id, bot_id, chat_id, at, 'in', message_id, user_id, content_type, text, command,
    reply_to, edited_at, 'received'
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bigint[],
    $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::timestamptz[])
    AS t(id, bot_id, chat_id, at, message_id, user_id, content_type, text, command, reply_to,
         edited_at)
ON CONFLICT (bot_id, chat_id, message_id, at) WHERE direction = 'in' DO UPDATE
    SET text = excluded.text, content_type = excluded.content_type,
        edited_at = excluded.edited_at
    WHERE excluded.edited_at > coalesce(m.edited_at, '-infinity')
RETURNING id, bot_id, chat_id, message_id, at
"""

_INSERT_OUTCOMES = """
INSERT INTO history_messages (id, bot_id, chat_id, at, direction, message_id, content_type,
    text, delivery_id, source_kind, status, failure_reason)
SELECT id, bot_id, chat_id, at, 'out', message_id, 'text', text, delivery_id, source_kind,
    status, reason
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::bigint[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
    AS t(id, bot_id, chat_id, at, message_id, text, delivery_id, source_kind, status, reason)
ON CONFLICT (delivery_id, at) WHERE direction = 'out' DO NOTHING
RETURNING delivery_id, at
"""

_JOIN_TEXTS = """
UPDATE history_messages m SET text = t.text
FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS t(delivery_id, at, text)
WHERE m.direction = 'out' AND m.delivery_id = t.delivery_id AND m.at = t.at
"""

# Subtracting (forgetting a chat): members first, so those that fall to zero are known.
_UPSERT_MEMBERS = """
INSERT INTO stats_members AS m (scope, scope_id, granularity, bucket, member, received)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
    $6::bigint[])
ON CONFLICT (scope, scope_id, granularity, bucket, member) DO UPDATE
    SET received = m.received + excluded.received
RETURNING scope, scope_id, granularity, bucket, member, received
"""


def _merge_rollup(empty_latency: str) -> str:
    """The ON CONFLICT clause of a rollup upsert into `stats_rollups AS r`: counters add up,
    counter maps and the latency histogram merge key by key (skipped when the incoming one
    is empty; `empty_latency` is the parameter holding an empty histogram, e.g. "$3")."""
    return f"""ON CONFLICT (scope, scope_id, granularity, bucket) DO UPDATE SET
    received = r.received + excluded.received,
    received_by_kind = CASE WHEN excluded.received_by_kind = '{{}}' THEN r.received_by_kind
        ELSE history_add_counts(r.received_by_kind, excluded.received_by_kind) END,
    sent = r.sent + excluded.sent,
    failed = r.failed + excluded.failed,
    failed_by_reason = CASE WHEN excluded.failed_by_reason = '{{}}' THEN r.failed_by_reason
        ELSE history_add_counts(r.failed_by_reason, excluded.failed_by_reason) END,
    blocked = r.blocked + excluded.blocked,
    latency = CASE WHEN excluded.latency = {empty_latency}::bigint[] THEN r.latency
        ELSE history_add_arrays(r.latency, excluded.latency) END,
    active_chats = r.active_chats + excluded.active_chats,
    active_users = r.active_users + excluded.active_users
"""


_UPSERT_ROLLUPS = """
INSERT INTO stats_rollups AS r (scope, scope_id, granularity, bucket, received,
    received_by_kind, sent, failed, failed_by_reason, blocked, latency, active_chats,
    active_users)
SELECT s, i, g, b, rc, rk::jsonb, se, f, fr::jsonb, bl, l::bigint[], ac, au
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::text[],
    $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::text[], $12::bigint[],
    $13::bigint[]) AS t(s, i, g, b, rc, rk, se, f, fr, bl, l, ac, au)
""" + _merge_rollup("$14")


# Adding (the live path): the members upserted, the new ones among them counted per rollup
# key in SQL, and the rollups upserted with those counts, all in one statement. A member
# row is new when it holds just this batch's count (every added count is positive). Both
# row sets come as one JSON array each (rows as arrays): encoding thousands of array
# elements one by one was most of the consumer's own CPU.
_ADD = """
WITH d AS (
    SELECT e ->> 0 AS scope, e ->> 1 AS scope_id, e ->> 2 AS granularity,
        (e ->> 3)::timestamptz AS bucket, e ->> 4 AS member, (e ->> 5)::bigint AS received
    FROM jsonb_array_elements($1::jsonb) AS e
), m AS (
    INSERT INTO stats_members AS m (scope, scope_id, granularity, bucket, member, received)
    SELECT * FROM d
    ON CONFLICT (scope, scope_id, granularity, bucket, member) DO UPDATE
        SET received = m.received + excluded.received
    RETURNING scope, scope_id, granularity, bucket, member, received
), a AS (
    SELECT scope, scope_id, granularity, bucket,
        count(*) FILTER (WHERE member LIKE 'c%') AS chats,
        count(*) FILTER (WHERE member NOT LIKE 'c%') AS users
    FROM m JOIN d USING (scope, scope_id, granularity, bucket, member)
    WHERE m.received = d.received
    GROUP BY scope, scope_id, granularity, bucket
), t AS (
    SELECT e ->> 0 AS s, e ->> 1 AS i, e ->> 2 AS g, (e ->> 3)::timestamptz AS b,
        (e ->> 4)::bigint AS rc, e -> 5 AS rk, (e ->> 6)::bigint AS se, (e ->> 7)::bigint AS f,
        e -> 8 AS fr, (e ->> 9)::bigint AS bl, (e ->> 10)::bigint[] AS l
    FROM jsonb_array_elements($2::jsonb) AS e
)
INSERT INTO stats_rollups AS r (scope, scope_id, granularity, bucket, received,
    received_by_kind, sent, failed, failed_by_reason, blocked, latency, active_chats,
    active_users)
SELECT t.s, t.i, t.g, t.b, t.rc, t.rk, t.se, t.f, t.fr, t.bl, t.l,
    coalesce(a.chats, 0), coalesce(a.users, 0)
FROM t LEFT JOIN a ON a.scope = t.s AND a.scope_id = t.i AND a.granularity = t.g
    AND a.bucket = t.b
""" + _merge_rollup("$3")  # noqa: S608 - constant SQL, no input


class HistoryProjection:
    tables = TABLES

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def apply(self, facts: Sequence[Positioned]) -> None:
        """Fold `facts` (in log order); duplicates of a row change nothing, an edit wins
        over an older version whichever comes first."""
        counted: list[Fact] = []
        counted += await self._received([(p, f) for p, f in facts if isinstance(f, Received)])
        counted += await self._outcomes([(p, f) for p, f in facts if isinstance(f, Outcome)])
        texts = [f for _, f in facts if isinstance(f, TextJoined)]
        await self._texts(texts)
        counted += texts + [f for _, f in facts if isinstance(f, Blocked)]
        if counted:
            await add_deltas(self.conn, deltas_of(counted))

    async def _received(self, facts: list[tuple[int, Received]]) -> list[Fact]:
        if not facts:
            return []
        # One row per message: the first fact names it, the latest edit gives its text.
        first: dict[tuple[int, int, int, datetime], tuple[int, Received]] = {}
        latest: dict[tuple[int, int, int, datetime], Received] = {}
        for position, f in facts:
            key = (f.bot_id, f.chat_id, f.message_id, f.at)
            first.setdefault(key, (position, f))
            if key not in latest or _newer(f, latest[key]):
                latest[key] = f
        rows = [(first[k][0], latest[k]) for k in first]
        returned = await self.conn.fetch(
            _INSERT_RECEIVED,
            *_columns(rows, lambda p, f: (
                p, f.bot_id, f.chat_id, f.at, f.message_id, f.user_id, f.content_type,
                f.text, f.command, f.reply_to_message_id, f.edited_at,
            )),
        )  # fmt: skip
        # A partitioned table cannot return xmax: a row is new when it has the id we gave it.
        new = set()
        for r in returned:
            key = (r["bot_id"], r["chat_id"], r["message_id"], r["at"])
            if first[key][0] == r["id"]:
                new.add(key)
        return [first[k][1] for k in first if k in new]

    async def _outcomes(self, facts: list[tuple[int, Outcome]]) -> list[Fact]:
        if not facts:
            return []
        first: dict[tuple[str, datetime], tuple[int, Outcome]] = {}
        for position, f in facts:
            first.setdefault((f.delivery_id, f.at), (position, f))
        returned = await self.conn.fetch(
            _INSERT_OUTCOMES,
            *_columns(list(first.values()), lambda p, f: (
                p, f.bot_id, f.chat_id, f.at, f.message_id, f.text, f.delivery_id,
                f.source_kind, f.kind, f.reason,
            )),
        )  # fmt: skip
        new = {(r["delivery_id"], r["at"]) for r in returned}
        return [f for k, (_, f) in first.items() if k in new]

    async def _texts(self, facts: list[TextJoined]) -> None:
        if facts:
            await self.conn.execute(
                _JOIN_TEXTS,
                [f.delivery_id for f in facts],
                [f.at for f in facts],
                [f.text for f in facts],
            )


def _newer(a: Received, b: Received) -> bool:
    return a.edited_at is not None and (b.edited_at is None or a.edited_at > b.edited_at)


def _columns(rows: Sequence[tuple[int, Any]], pick: Any) -> list[list[Any]]:
    """Rows as column arrays for unnest."""
    values = [pick(p, f) for p, f in rows]
    return [list(column) for column in zip(*values, strict=True)]


async def add_deltas(conn: Connection, deltas: Deltas, sign: int = 1) -> None:
    """Add (or, with sign -1, subtract) `deltas`; members and rollups that reach zero go,
    so subtracting what was added leaves the tables as if it never was."""
    keys = list(deltas.counters)
    if sign > 0:
        await conn.execute(
            _ADD,
            [(*key, member, n) for (key, member), n in deltas.members.items()],
            [_rollup_row(k, deltas.counters[k]) for k in keys],
            latency.empty(),
        )
        return
    await _subtract(conn, deltas, keys)


def _member_columns(items: list[tuple[tuple[Key, str], int]]) -> list[list[Any]]:
    return [
        [k[0] for (k, _), _ in items],
        [k[1] for (k, _), _ in items],
        [k[2] for (k, _), _ in items],
        [k[3] for (k, _), _ in items],
        [m for (_, m), _ in items],
        [n for _, n in items],
    ]


def _rollup_row(key: Key, c: Counters) -> tuple[Any, ...]:
    return (
        *key, c.received, _nonzero(c.received_by_kind), c.sent, c.failed,
        _nonzero(c.failed_by_reason), c.blocked, "{" + ",".join(map(str, c.latency)) + "}",
    )  # fmt: skip


def _nonzero(counts: Any) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _rollup_columns(keys: list[Key], counters: list[Counters]) -> list[list[Any]]:
    return [
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [c.received for c in counters],
        [counts_json(c.received_by_kind) for c in counters],
        [c.sent for c in counters],
        [c.failed for c in counters],
        [counts_json(c.failed_by_reason) for c in counters],
        [c.blocked for c in counters],
        ["{" + ",".join(map(str, c.latency)) + "}" for c in counters],
    ]


async def _subtract(conn: Connection, deltas: Deltas, keys: list[Key]) -> None:
    """Forgetting: members that fall to zero go and leave their rollups' active counts."""
    active: dict[Key, list[int]] = {}
    if deltas.members:
        items = [(key, -n) for key, n in deltas.members.items()]
        returned = await conn.fetch(_UPSERT_MEMBERS, *_member_columns(items))
        gone = [r for r in returned if r["received"] <= 0]
        for r in gone:
            key = (r["scope"], r["scope_id"], r["granularity"], r["bucket"])
            active.setdefault(key, [0, 0])[0 if r["member"].startswith("c") else 1] -= 1
        if gone:
            await conn.execute(
                "DELETE FROM stats_members WHERE (scope, scope_id, granularity, bucket, member)"
                " IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
                " $4::timestamptz[], $5::text[]))",
                *[
                    [r[c] for r in gone]
                    for c in ("scope", "scope_id", "granularity", "bucket", "member")
                ],
            )
    await conn.execute(
        _UPSERT_ROLLUPS,
        *_rollup_columns(keys, [deltas.counters[k].negated() for k in keys]),
        [active.get(k, [0, 0])[0] for k in keys],
        [active.get(k, [0, 0])[1] for k in keys],
        latency.empty(),
    )
    await conn.execute(
        "DELETE FROM stats_rollups WHERE (scope, scope_id, granularity, bucket) IN"
        " (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]))"
        " AND received = 0 AND sent = 0 AND failed = 0 AND blocked = 0"
        " AND active_chats = 0 AND active_users = 0",
        *[[k[i] for k in keys] for i in range(4)],
    )


def counts_json(counts: Any) -> str:
    """A counter map as jsonb text, without its zero entries."""
    return json.dumps(_nonzero(counts))
