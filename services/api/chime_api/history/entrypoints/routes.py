"""/v1/history and /v1/stats: a chat's messages (last, range, search), time series of any
scope, top chats, and forgetting a chat.

History and stats are the platform's, not a caller's: any key with `read` reads them (the
keys of the services that run the bots), except a key's own stats, which only that key and
its team read. Forgetting a chat needs `admin`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Path, Query, Response

from chime_api.domain.keys import ApiKey, owner_of
from chime_api.domain.problems import ProblemError, not_found
from chime_api.entrypoints.dependencies import AdminDep, ReadDep, ServiceDep
from chime_api.entrypoints.paging import Cursor, invalid, next_cursor, position
from chime_api.entrypoints.schemas import TELEGRAM_ID, problems
from chime_api.history.adapters import queries
from chime_api.history.domain.buckets import Granularity, floor, step, whole_hour_offsets
from chime_api.history.domain.facts import chat_key
from chime_api.history.domain.series import local_daily, zero_filled
from chime_api.history.entrypoints.schemas import (
    ChatActivityOut,
    ForgottenOut,
    MessageOut,
    MessagePage,
    MessagesOut,
    SeriesOut,
    TopChatsOut,
    series_json,
)
from chime_api.history.handlers import forget_chat

router = APIRouter(responses=problems(401, 403, 422))

ChatId = Annotated[int, Path(ge=-TELEGRAM_ID, le=TELEGRAM_ID, description="Telegram chat id")]
BotId = Annotated[
    int | None, Query(gt=0, le=TELEGRAM_ID, description="the bot (default: the configured one)")
]
Since = Annotated[datetime | None, Query(alias="from", description="start (inclusive)")]
Until = Annotated[datetime | None, Query(alias="to", description="end (exclusive; default now)")]
Bucket = Annotated[Granularity, Query(alias="bucket", description="hour or day (UTC)")]
Zone = Annotated[
    str | None,
    Query(
        alias="tz",
        max_length=64,
        description="with bucket=day: days of this IANA zone (whole-hour offsets), summed"
        " from UTC hours; active counts are then null",
    ),
]
MAX_BUCKETS = {Granularity.HOUR: 24 * 95, Granularity.DAY: 400}


def _bot(service: ServiceDep, bot_id: int | None) -> int:
    bot = bot_id if bot_id is not None else service.settings.default_bot_id
    if bot is None:
        raise invalid("query.bot_id", "bot_id is required (no default bot is configured)")
    return bot


def _range(
    since: datetime | None, until: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    until = (until or datetime.now(UTC)).astimezone(UTC)
    since = (since or until - default).astimezone(UTC)
    if since >= until:
        raise invalid("query.from", "from must be before to")
    return since, until


@router.get(
    "/v1/history/chats/{chat_id}/last", response_model=MessagesOut, tags=["history"],
    summary="A conversation's last messages, both directions, oldest first",
)  # fmt: skip
async def last_messages(
    chat_id: ChatId,
    key: ReadDep,
    service: ServiceDep,
    bot_id: BotId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> MessagesOut:
    async with service.runtime.pool.acquire() as conn:
        rows = await queries.last(conn, _bot(service, bot_id), chat_id, limit)
    return MessagesOut(items=[MessageOut.of(m) for m in rows])


def _cursor(cursor: str | None) -> tuple[datetime, int] | None:
    at = position(cursor)
    if at is None:
        return None
    if not at[1].isdigit():
        raise invalid("query.cursor", "not a cursor from a previous page")
    return at[0], int(at[1])


def _page(rows: list[queries.Message], limit: int) -> MessagePage:
    """`limit` of the `limit + 1` rows read, and a cursor when there was one more."""
    page = rows[:limit]
    last = (page[-1].at, str(page[-1].id)) if page else None
    return MessagePage(
        items=[MessageOut.of(m) for m in page], next_cursor=next_cursor(last, len(rows) > limit)
    )


@router.get(
    "/v1/history/chats/{chat_id}/messages", response_model=MessagePage, tags=["history"],
    summary="A conversation's messages in a time range, oldest first, page by page",
)  # fmt: skip
async def messages(
    chat_id: ChatId,
    key: ReadDep,
    service: ServiceDep,
    bot_id: BotId = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessagePage:
    start, end = _range(since, until, timedelta(days=1))
    async with service.runtime.pool.acquire() as conn:
        rows = await queries.between(
            conn, _bot(service, bot_id), chat_id, start, end, _cursor(cursor), limit + 1
        )
    return _page(rows, limit)


@router.get(
    "/v1/history/chats/{chat_id}/search", response_model=MessagePage, tags=["history"],
    summary="Messages of a conversation matching words (web search syntax), newest first",
)  # fmt: skip
async def search_messages(
    chat_id: ChatId,
    key: ReadDep,
    service: ServiceDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00]+$",
            description='words, web search syntax, no NUL; e.g. "call mom" -later',
        ),
    ],
    bot_id: BotId = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> MessagePage:
    async with service.runtime.pool.acquire() as conn:
        rows = await queries.search(
            conn, _bot(service, bot_id), chat_id, q, _cursor(cursor), limit + 1
        )
    return _page(rows, limit)


@router.delete(
    "/v1/history/chats/{chat_id}", response_model=ForgottenOut, tags=["history"],
    summary="Forget a chat: its history and its share of every stat erased (admin)",
)  # fmt: skip
async def forget(
    chat_id: ChatId, key: AdminDep, service: ServiceDep, bot_id: BotId = None
) -> ForgottenOut:
    bot = _bot(service, bot_id)
    async with service.runtime.unit_of_work() as uow:
        done = await forget_chat(uow, bot, chat_id, key.id)
    return ForgottenOut(bot_id=bot, chat_id=chat_id, messages=done.messages)


async def _series(
    service: ServiceDep, scope: str, scope_id: str, granularity: Granularity,
    since: datetime | None, until: datetime | None, tz: str | None,
) -> Response:  # fmt: skip
    default = timedelta(days=1) if granularity is Granularity.HOUR else timedelta(days=30)
    start, end = _range(since, until, default)
    start = floor(start, granularity)
    if (end - start) / step(granularity) > MAX_BUCKETS[granularity]:
        raise invalid("query.from", f"at most {MAX_BUCKETS[granularity]} {granularity}s")
    zone = _zone(tz, granularity, start, end)
    async with service.runtime.pool.acquire() as conn:
        if zone is None:
            rows = await queries.rollups(conn, scope, scope_id, granularity, start, end)
            points = zero_filled(rows, start, end, granularity)
        else:
            wide_start, wide_end = start - timedelta(days=1), end + timedelta(days=1)
            hours = await queries.rollups(
                conn, scope, scope_id, Granularity.HOUR, wide_start, wide_end
            )
            points = local_daily(hours, start, end, zone)
    # Written as JSON here (the route's `response_model` documents it): see `series_json`.
    body = series_json(scope, granularity.value, str(zone or "UTC"), points)
    return Response(body, media_type="application/json")


def _zone(
    tz: str | None, granularity: Granularity, start: datetime, end: datetime
) -> ZoneInfo | None:
    if tz is None or tz == "UTC":
        return None
    if granularity is not Granularity.DAY:
        raise invalid("query.tz", "tz applies to bucket=day")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid("query.tz", "not an IANA time zone") from exc
    if not whole_hour_offsets(zone, start, end):
        raise invalid("query.tz", "local days need a zone with whole-hour offsets")
    return zone


@router.get(
    "/v1/stats/global", response_model=SeriesOut, tags=["stats"], summary="Everything, per bucket"
)
async def global_stats(
    key: ReadDep, service: ServiceDep, bucket: Bucket = Granularity.HOUR,
    since: Since = None, until: Until = None, tz: Zone = None,
) -> Response:  # fmt: skip
    return await _series(service, "global", "", bucket, since, until, tz)


@router.get(
    "/v1/stats/bots/{bot_id}", response_model=SeriesOut, tags=["stats"],
    summary="One bot, per bucket",
)  # fmt: skip
async def bot_stats(
    bot_id: Annotated[int, Path(gt=0, le=TELEGRAM_ID)], key: ReadDep, service: ServiceDep,
    bucket: Bucket = Granularity.HOUR, since: Since = None, until: Until = None, tz: Zone = None,
) -> Response:  # fmt: skip
    return await _series(service, "bot", str(bot_id), bucket, since, until, tz)


@router.get(
    "/v1/stats/chats/{chat_id}", response_model=SeriesOut, tags=["stats"],
    summary="One chat, per bucket (tz: the chat's local days)",
)  # fmt: skip
async def chat_stats(
    chat_id: ChatId, key: ReadDep, service: ServiceDep, bot_id: BotId = None,
    bucket: Bucket = Granularity.HOUR, since: Since = None, until: Until = None, tz: Zone = None,
) -> Response:  # fmt: skip
    scope_id = chat_key(_bot(service, bot_id), chat_id)
    return await _series(service, "chat", scope_id, bucket, since, until, tz)


@router.get(
    "/v1/stats/keys/{api_key_id}", response_model=SeriesOut, tags=["stats"],
    summary="What one API key (the caller's, or its team's) had sent, per bucket",
    responses=problems(404),
)  # fmt: skip
async def key_stats(
    api_key_id: Annotated[str, Path(max_length=64)], key: ReadDep, service: ServiceDep,
    bucket: Bucket = Granularity.HOUR, since: Since = None, until: Until = None, tz: Zone = None,
) -> Response:  # fmt: skip
    await _own_key(service, key, api_key_id)
    return await _series(service, "key", api_key_id, bucket, since, until, tz)


async def _own_key(service: ServiceDep, key: ApiKey, api_key_id: str) -> None:
    async with service.runtime.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT team FROM api_keys WHERE id = $1", api_key_id)
    if row is None or owner_of(api_key_id, row["team"]) != key.owner:
        raise ProblemError(not_found(f"api key {api_key_id}"))


@router.get(
    "/v1/stats/top-chats", response_model=TopChatsOut, tags=["stats"],
    summary="Chats by messages received and sent in a range, most first",
)  # fmt: skip
async def top_chats(
    key: ReadDep, service: ServiceDep, bot_id: Annotated[int | None, Query(gt=0)] = None,
    since: Since = None, until: Until = None, limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> TopChatsOut:  # fmt: skip
    start, end = _range(since, until, timedelta(days=1))
    # Whole days read day rows; anything else the hours it covers.
    whole_days = start == floor(start, Granularity.DAY) and end == floor(end, Granularity.DAY)
    granularity = Granularity.DAY if whole_days else Granularity.HOUR
    start = floor(start, granularity)
    async with service.runtime.pool.acquire() as conn:
        rows = await queries.top_chats(conn, granularity, start, end, bot_id, limit)
    return TopChatsOut(items=[ChatActivityOut.of(a) for a in rows])
