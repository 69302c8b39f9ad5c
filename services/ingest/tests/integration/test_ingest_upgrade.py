"""A database written before chats were a projection upgrades to what a rebuild derives."""

import asyncpg
import orjson
import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import TimeZoneSet, UserStarted
from chime_ingest.__main__ import CLI
from chime_kit.runtime import run_migrations
from chime_kit.testing import migrate_as_before, table_rows

pytestmark = pytest.mark.integration


async def test_chats_written_beside_the_streams_become_their_projection(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await migrate_as_before(conn, "ingest", "chime_ingest.migrations", "0002")
        # As written then: /start stored the default zone beside the stream, /tz its choice.
        await conn.execute(
            "INSERT INTO chats (bot_id, chat_id, time_zone, started_at) VALUES"
            " (1, 10, 'Europe/Kyiv', now()), (1, 11, 'Asia/Tokyo', now()),"
            " (1, 12, 'Europe/Kyiv', now())"  # started before chats had streams
        )
        events = [
            UserStarted(bot_id=1, chat_id=10, user_id=10),
            UserStarted(bot_id=1, chat_id=11, user_id=11),
            TimeZoneSet(bot_id=1, chat_id=11, user_id=11, time_zone="Asia/Tokyo"),
        ]
        versions = {10: 0, 11: 0}
        for event in events:
            versions[event.chat_id] += 1
            envelope = envelope_of(event, producer="ingest")
            await conn.execute(
                "INSERT INTO events (stream_id, version, event_id, type, envelope)"
                " VALUES ($1, $2, $3, $4, $5::jsonb)",
                f"chat-1-{event.chat_id}", versions[event.chat_id], envelope.id, envelope.type,
                orjson.dumps(envelope.model_dump(mode="json")).decode(),
            )  # fmt: skip
        await run_migrations(database_url, "ingest", "chime_ingest.migrations")
        rows = await conn.fetch("SELECT chat_id, time_zone FROM chats ORDER BY chat_id")
        assert [(r["chat_id"], r["time_zone"]) for r in rows] == [(10, None), (11, "Asia/Tokyo")]
        upgraded = await table_rows(conn, "chats")
        await CLI.rebuild(database_url)
        assert await table_rows(conn, "chats") == upgraded
    finally:
        await conn.close()
