"""The bot pools' assignments as the sender keeps them (ingest's facts, as received), and
the check a send to a private chat goes through: never through a bot of the chat's pool
that it did not start. PostgreSQL and in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chime_kit.db import Connection
from chime_sender.ports import Misrouted


class PostgresAssignments:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def assigned(self, pool: str, chat_id: int, bot_id: int, pool_bots: list[int]) -> None:
        await self.conn.execute(
            "INSERT INTO pool_assignments (chat_id, pool, bot_id, pool_bot_ids)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (chat_id, pool) DO NOTHING",
            chat_id, pool, bot_id, pool_bots,
        )  # fmt: skip

    async def started(self, bot_id: int, chat_id: int) -> None:
        await self.conn.execute(
            "INSERT INTO bot_starts (bot_id, chat_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            bot_id, chat_id,
        )  # fmt: skip

    async def misrouted(self, bot_id: int, chat_id: int) -> Misrouted | None:
        row = await self.conn.fetchrow(
            "SELECT a.pool, a.bot_id FROM pool_assignments a"
            " WHERE a.chat_id = $2 AND a.bot_id <> $1 AND $1 = ANY(a.pool_bot_ids)"
            " AND NOT EXISTS (SELECT 1 FROM bot_starts s WHERE s.bot_id = $1 AND s.chat_id = $2)"
            " LIMIT 1",
            bot_id, chat_id,
        )  # fmt: skip
        return Misrouted(row["pool"], row["bot_id"]) if row else None

    async def misrouted_chats(self, bot_id: int, chat_ids: Sequence[int]) -> dict[int, Misrouted]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT ON (a.chat_id) a.chat_id, a.pool, a.bot_id FROM pool_assignments a"
            " WHERE a.chat_id = ANY($2::bigint[]) AND a.bot_id <> $1 AND $1 = ANY(a.pool_bot_ids)"
            " AND NOT EXISTS"
            " (SELECT 1 FROM bot_starts s WHERE s.bot_id = $1 AND s.chat_id = a.chat_id)"
            " ORDER BY a.chat_id, a.pool",
            bot_id, list(chat_ids),
        )  # fmt: skip
        return {row["chat_id"]: Misrouted(row["pool"], row["bot_id"]) for row in rows}

    async def misrouted_pairs(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Misrouted]:
        if not pairs:
            return {}
        rows = await self.conn.fetch(
            "SELECT DISTINCT ON (t.b, t.c) t.b, t.c, a.pool, a.bot_id"
            " FROM unnest($1::bigint[], $2::bigint[]) AS t(b, c)"
            " JOIN pool_assignments a ON a.chat_id = t.c AND a.bot_id <> t.b"
            "   AND t.b = ANY(a.pool_bot_ids)"
            " WHERE NOT EXISTS"
            "   (SELECT 1 FROM bot_starts s WHERE s.bot_id = t.b AND s.chat_id = t.c)"
            " ORDER BY t.b, t.c, a.pool",
            [b for b, _ in pairs], [c for _, c in pairs],
        )  # fmt: skip
        return {(row["b"], row["c"]): Misrouted(row["pool"], row["bot_id"]) for row in rows}


@dataclass
class InMemoryAssignments:
    pools: dict[tuple[int, str], tuple[int, list[int]]] = field(default_factory=dict)
    starts: set[tuple[int, int]] = field(default_factory=set)

    async def assigned(self, pool: str, chat_id: int, bot_id: int, pool_bots: list[int]) -> None:
        self.pools.setdefault((chat_id, pool), (bot_id, pool_bots))

    async def started(self, bot_id: int, chat_id: int) -> None:
        self.starts.add((bot_id, chat_id))

    async def misrouted(self, bot_id: int, chat_id: int) -> Misrouted | None:
        if (bot_id, chat_id) in self.starts:
            return None
        for (chat, pool), (worker, bots) in sorted(self.pools.items()):
            if chat == chat_id and worker != bot_id and bot_id in bots:
                return Misrouted(pool, worker)
        return None

    async def misrouted_chats(self, bot_id: int, chat_ids: Sequence[int]) -> dict[int, Misrouted]:
        found = {chat: await self.misrouted(bot_id, chat) for chat in dict.fromkeys(chat_ids)}
        return {chat: misrouted for chat, misrouted in found.items() if misrouted is not None}

    async def misrouted_pairs(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Misrouted]:
        found = {pair: await self.misrouted(*pair) for pair in dict.fromkeys(pairs)}
        return {pair: misrouted for pair, misrouted in found.items() if misrouted is not None}
