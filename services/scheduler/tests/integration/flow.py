"""Helpers of the scheduler's integration tests: requests as ingest and the api send them,
and what the scheduler left in its outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import ScheduleRequested
from chime_contracts.events.schedules import MessageTemplate, ScheduleOwner


def chat_owner(chat_id: int, bot_id: int = 1) -> ScheduleOwner:
    return ScheduleOwner(kind="chat", id=f"{bot_id}:{chat_id}")


def schedule_request(schedule_id: str, spec: Any, *, chat_id: int = 5, **more: Any
                     ) -> Envelope[ScheduleRequested]:  # fmt: skip
    fields = {
        "schedule_id": schedule_id, "owner": chat_owner(chat_id), "bot_id": 1,
        "chat_id": chat_id, "spec": spec, "time_zone": "Europe/Kyiv",
        "message": MessageTemplate(text=f"text of {schedule_id}"),
        "requested_at": datetime.now(UTC),
    } | more  # fmt: skip
    return envelope_of(ScheduleRequested(**fields), producer="ingest")


async def outbox(pool: Any, routing_key: str | None = None) -> list[dict[str, Any]]:
    """Every event waiting in the outbox (of one routing key), oldest first, then emptied."""
    rows = await pool.fetch("DELETE FROM outbox RETURNING id, routing_key, body")
    rows = sorted(rows, key=lambda r: r["id"])
    return [orjson.loads(r["body"]) for r in rows if routing_key in (None, r["routing_key"])]


def sends(events: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    """The send.requested.v1 data among `events`, and the deliveries of the
    send.batch.requested.v1 that list theirs (a firing's occurrences, with the batch's bot),
    of one source kind if given."""
    found = []
    for e in events:
        if e["type"] == "send.requested.v1":
            found.append(e["data"])
        elif e["type"] == "send.batch.requested.v1" and e["data"].get("deliveries"):
            found += [d | {"bot_id": e["data"]["bot_id"]} for d in e["data"]["deliveries"]]
    return [d for d in found if kind in (None, d["source"]["kind"])]
