"""An ingest runtime on a test database (migrated, its relay not started, so the outbox
keeps what interpreting emitted), the receive path on it, and updates to feed it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from chime_ingest.entrypoints.intake import Intake
from chime_ingest.settings import MIGRATIONS, SERVICE, IngestSettings
from chime_kit.runtime import Runtime, open_runtime

BOT = 4242


@pytest.fixture
async def runtime(database_url: str, amqp_url: str) -> AsyncIterator[Runtime]:
    settings = IngestSettings(database_url=database_url, amqp_url=amqp_url, db_pool_max=12)
    runtime = await open_runtime(SERVICE, settings, MIGRATIONS)
    yield runtime
    await runtime.pool.close()


@pytest.fixture
async def intake(runtime: Runtime) -> AsyncIterator[Intake]:
    receiving = Intake(runtime, on_stored=lambda: None)
    receiving.start()
    yield receiving
    await receiving.stop()


def message(update_id: int, chat_id: int, text: str = "/help") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"},
            "text": text,
        },
    }


async def caused(runtime: Runtime) -> dict[str, list[str]]:
    """Per update receipt (event id): the types of the events interpreting it emitted, in
    outbox order."""
    rows = await runtime.pool.fetch("SELECT body FROM outbox ORDER BY id")
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        envelope = orjson.loads(row["body"])
        found[envelope["causation_id"]].append(envelope["type"])
    return found


async def receipts(runtime: Runtime) -> dict[int, str]:
    """update_id -> its receipt's event id, for updates still queued."""
    rows = await runtime.pool.fetch("SELECT update_id, event_id FROM update_queue")
    return {r["update_id"]: r["event_id"] for r in rows}
