"""Bodies of the history and stats routes, with the examples OpenAPI shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict

from chime_api.history.adapters.queries import ChatActivity, Message
from chime_api.history.domain.series import Point

_MESSAGE: JsonDict = {
    "id": 918273,
    "at": "2026-11-30T09:15:02Z",
    "direction": "in",
    "message_id": 4411,
    "user_id": 5550001,
    "content_type": "text",
    "text": "/remind tomorrow 9:00 call mom",
    "command": "/remind",
    "reply_to_message_id": None,
    "edited_at": None,
    "delivery_id": None,
    "source_kind": None,
    "status": "received",
    "failure_reason": None,
}
_SENT: JsonDict = _MESSAGE | {
    "id": 918280,
    "at": "2026-11-30T09:15:03Z",
    "direction": "out",
    "message_id": 4412,
    "user_id": None,
    "text": "Done: tomorrow 09:00, call mom",
    "command": None,
    "delivery_id": "ingest:reply:77:4411",
    "source_kind": "confirmation",
    "status": "sent",
}


class MessageOut(BaseModel):
    """One message of a conversation: `in` from the chat, `out` sent by Chime (with its
    outcome; `text` is null while the request is not yet known)."""

    id: int
    at: datetime
    direction: str
    message_id: int | None
    user_id: int | None
    content_type: str
    text: str | None
    command: str | None
    reply_to_message_id: int | None
    edited_at: datetime | None
    delivery_id: str | None
    source_kind: str | None
    status: str
    failure_reason: str | None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(**m._asdict())


class MessagesOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_MESSAGE, _SENT]}]})

    items: list[MessageOut]


class MessagePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_MESSAGE, _SENT], "next_cursor": "MTc2NDQ5"}]}
    )

    items: list[MessageOut]
    next_cursor: str | None


class PointOut(BaseModel):
    at: datetime
    received: int
    received_by_kind: dict[str, int]
    sent: int
    failed: int
    failed_by_reason: dict[str, int]
    blocked: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    active_chats: int | None
    active_users: int | None


_POINT: JsonDict = {
    "at": "2026-11-30T09:00:00Z",
    "received": 412,
    "received_by_kind": {"text": 400, "photo": 12},
    "sent": 388,
    "failed": 3,
    "failed_by_reason": {"blocked": 2, "chat_not_found": 1},
    "blocked": 2,
    "latency_p50_ms": 250.0,
    "latency_p95_ms": 1000.0,
    "active_chats": 57,
    "active_users": 61,
}


class SeriesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scope": "chat",
                    "bucket": "hour",
                    "time_zone": "UTC",
                    "points": [_POINT, _POINT | {"at": "2026-11-30T10:00:00Z", "received": 0}],
                }
            ]
        }
    )

    scope: str
    bucket: str
    time_zone: str
    points: list[PointOut]


class ChatActivityOut(BaseModel):
    bot_id: int
    chat_id: int
    received: int
    sent: int

    @classmethod
    def of(cls, a: ChatActivity) -> ChatActivityOut:
        return cls(**a.__dict__)


class TopChatsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [{"bot_id": 7, "chat_id": -1001234, "received": 9120, "sent": 310}]}
            ]
        }
    )

    items: list[ChatActivityOut]


class ForgottenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"bot_id": 7, "chat_id": 42, "messages": 1290}]}
    )

    bot_id: int
    chat_id: int
    messages: int


def series_json(scope: str, bucket: str, time_zone: str, points: list[Point]) -> bytes:
    """A `SeriesOut` as its JSON, written straight from the points: the same bytes as
    `SeriesOut(...).model_dump_json()` (tested), without a model per point, which cost a
    30-day hourly series (720 points) three times what reading and filling it did."""
    out = []
    for p in points:
        c = p.counts
        p50, p95 = p.latency_p50_p95_ms()
        out.append({
            "at": p.at, "received": c.received, "received_by_kind": _dict(c.received_by_kind),
            "sent": c.sent, "failed": c.failed, "failed_by_reason": _dict(c.failed_by_reason),
            "blocked": c.blocked, "latency_p50_ms": p50, "latency_p95_ms": p95,
            "active_chats": c.active_chats, "active_users": c.active_users,
        })  # fmt: skip
    series = {"scope": scope, "bucket": bucket, "time_zone": time_zone, "points": out}
    return orjson.dumps(series, option=orjson.OPT_UTC_Z)


def _dict(counts: Mapping[str, int]) -> dict[str, int]:
    return counts if type(counts) is dict else dict(counts)  # an empty bucket's is a proxy
