"""The notifications, chats and recipients projections, in memory and on PostgreSQL: one
suite, both backends, through the handlers that keep their events. The memory runs are the
handlers' unit tests."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chime_api.adapters.chats import PostgresChats
from chime_api.adapters.memory import InMemoryChats, InMemoryNotifications, InMemoryRecipients
from chime_api.adapters.notifications import PostgresNotifications
from chime_api.adapters.recipients import PostgresRecipients
from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.chats import ChatFilter, evolve, stream_of
from chime_api.domain.keys import ApiKey, Scope
from chime_api.domain.notifications import NotEditableError, Status, source_of
from chime_api.handlers import chats, notifications, recipients
from chime_api.handlers.notifications import NotificationRequest
from chime_api.ports import Chats, Notifications, Recipients
from chime_contracts.envelope import Envelope, envelope_of
from chime_contracts.events import (
    BroadcastRecipientsSkipped,
    ChatBlocked,
    LanguageSet,
    MessageReceived,
    MessageSent,
    SendBatchRequested,
    SendFailed,
    TimeZoneSet,
    UserStarted,
)
from chime_contracts.events.shared import SendSource
from chime_kit.streams import Work
from chime_kit.testing import Backend, contract_backend

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OURS = "brd_1"
LATER = datetime.now(UTC) + timedelta(hours=1)  # outcomes come after their slices


class Models:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.fake_chats = InMemoryChats()
        self.fake_recipients = InMemoryRecipients(ours=[OURS])
        self.fake_notifications = InMemoryNotifications()

    def notifications(self, work: Work) -> Notifications:
        return self.backend.pick(work, PostgresNotifications, self.fake_notifications)

    def chats(self, work: Work) -> Chats:
        return self.backend.pick(work, PostgresChats, self.fake_chats)

    def recipients(self, work: Work) -> Recipients:
        return self.backend.pick(work, PostgresRecipients, self.fake_recipients)

    async def chat_events(self, *envelopes: Envelope[Any]) -> None:
        for envelope in envelopes:
            async with self.backend.work(envelope) as work:
                await chats.record_chat_event(work, self.chats(work), envelope)

    async def slices(self, *envelopes: Envelope[Any]) -> None:
        for envelope in envelopes:
            async with self.backend.work(envelope) as work:
                await recipients.record_slice(work, self.recipients(work), envelope)

    async def skipped(self, *envelopes: Envelope[Any]) -> None:
        for envelope in envelopes:
            async with self.backend.work(envelope) as work:
                await recipients.record_skipped(work, self.recipients(work), envelope)

    async def outcomes(self, *envelopes: Envelope[Any]) -> None:
        for envelope in envelopes:
            async with self.backend.work(envelope) as work:
                await recipients.record_outcome(work, self.recipients(work), envelope)


@pytest.fixture
async def models(contract_database: str | None) -> AsyncIterator[Models]:
    async with contract_backend(contract_database, SERVICE, MIGRATIONS) as backend:
        if backend.pool is not None:
            await backend.pool.execute(
                "INSERT INTO broadcasts (id, owner, api_key_id, bot_id, topic, message, status,"
                " created_at) VALUES ($1, 'key:k', 'k', 7, 't', '{}', 'running', now())",
                OURS,
            )
        yield Models(backend)


def received(bot: int, chat: int, at: datetime, language: str | None = None) -> Envelope[Any]:
    event = MessageReceived(
        bot_id=bot, update_id=1, update_kind="message", chat_id=chat, chat_type="private",
        message_id=1, user_id=chat, language_code=language, content_type="text", sent_at=at,
    )  # fmt: skip
    return envelope_of(event, producer="ingest")


def blocked(bot: int, chat: int, at: datetime) -> Envelope[Any]:
    event = ChatBlocked(bot_id=bot, chat_id=chat, detected_by="send_forbidden", blocked_at=at)
    return envelope_of(event, producer="sender")


async def test_a_chat_is_the_fold_of_what_was_kept(models: Models) -> None:
    start = envelope_of(
        UserStarted(bot_id=7, chat_id=-100, user_id=5, username="o", language_code="uk"),
        producer="ingest",
    )
    zone = TimeZoneSet(bot_id=7, chat_id=-100, user_id=5, time_zone="Europe/Kyiv")
    language = LanguageSet(bot_id=8, chat_id=-100, language="en", chosen_by="command")
    await models.chat_events(
        start, received(7, -100, T0), received(7, -100, T0 + timedelta(minutes=1)),
        envelope_of(zone, producer="ingest"), received(8, -100, T0 + timedelta(minutes=2)),
        envelope_of(language, producer="ingest"), blocked(8, -100, T0 + timedelta(minutes=3)),
        blocked(8, -100, T0 + timedelta(minutes=4)),
    )  # fmt: skip
    async with models.backend.work() as work:
        chat = await chats.get_chat(models.chats(work), -100)
        kept = [len((await work.load(stream_of(bot, -100))).events) for bot in (7, 8)]
        missing = await chats.get_chat(models.chats(work), -101)
    assert missing is None
    assert kept == [3, 3]  # the message a minute later and the second block are not kept
    assert chat is not None
    assert chat.assigned_bot_id == 7
    assert (chat.language, chat.time_zone) == ("uk", "Europe/Kyiv")
    assert chat.first_seen_at == T0
    assert chat.last_seen_at == start.occurred_at
    seven, eight = chat.bots
    assert (seven.version, seven.started_at, seven.username) == (3, start.occurred_at, "o")
    assert (eight.blocked, eight.blocked_changed_at, eight.language) == (
        True, T0 + timedelta(minutes=3), "en",
    )  # fmt: skip
    assert eight.last_seen_at == T0 + timedelta(minutes=2)


async def test_writers_racing_on_one_chat_lose_nothing(models: Models) -> None:
    """Replicas applying events of one chat at once: a lost race is taken again."""
    import asyncio

    messages = [received(7, 1, T0 + n * timedelta(minutes=10)) for n in range(12)]
    await asyncio.gather(*(models.chat_events(m) for m in messages))
    async with models.backend.work() as work:
        row = await models.chats(work).get(7, 1)
        stream = await work.load(stream_of(7, 1))
    assert row is not None
    # What is kept depends on the order (an older message after a newer one changes
    # nothing); the row is the fold of what was kept, at its stream's version.
    folded = None
    for version, envelope in enumerate(stream.events, start=1):
        folded = evolve(folded, envelope, version)
    assert folded == row
    assert row.version == stream.version >= 1
    assert row.last_seen_at == T0 + 11 * timedelta(minutes=10)
    assert row.first_seen_at == T0


async def test_listing_pages_and_filters_alike(models: Models) -> None:
    for n in range(6):
        at = T0 + timedelta(minutes=n)
        await models.chat_events(received(7 + n % 2, n, at, language="uk" if n < 3 else "en"))
    await models.chat_events(blocked(8, 1, T0 + timedelta(hours=1)), received(7, 1, T0))

    async def ids(where: ChatFilter, limit: int = 10, after: Any = None) -> list[int]:
        async with models.backend.work() as work:
            found, _ = await chats.list_chats(models.chats(work), where, limit, after)
        return [c.chat_id for c in found]

    assert await ids(ChatFilter()) == [5, 4, 3, 2, 1, 0]
    assert await ids(ChatFilter(blocked=True)) == [1]
    assert await ids(ChatFilter(blocked=False, bot_id=8)) == [5, 3]
    assert await ids(ChatFilter(language="uk")) == [2, 1, 0]
    assert await ids(ChatFilter(), 2, (T0 + timedelta(minutes=4), 4)) == [3, 2]
    # Chat 1 was first seen at T0 (by bot 7), so it comes after chat 2 and before chat 0.
    assert await ids(ChatFilter(), 10, (T0 + timedelta(minutes=2), 2)) == [1, 0]
    assert await ids(ChatFilter(), 10, (T0, 1)) == [0]


def source(bid: str) -> SendSource:
    return SendSource(kind="broadcast", id=bid)


async def test_recipients_alike(models: Models) -> None:
    def batch(bid: str, n: int, chat_ids: list[int]) -> Envelope[Any]:
        event = SendBatchRequested(
            batch_id=f"{bid}:{n}", bot_id=7, chat_ids=chat_ids, text="t", source=source(bid)
        )
        return envelope_of(event, producer="scheduler")

    def outcome(chat: int, code: int | None = None) -> Envelope[Any]:
        common: dict[str, Any] = {
            "delivery_id": f"{OURS}:{chat}", "bot_id": 7, "chat_id": chat, "attempts": 1,
            "source": source(OURS),
        }  # fmt: skip
        if code is None:
            event: Any = MessageSent(**common, telegram_message_id=9, sent_at=LATER)
        else:
            event = SendFailed(
                **common, reason="chat blocked the bot", error_code=code, permanent=True,
                description="Forbidden: bot was blocked by the user", failed_at=LATER,
            )  # fmt: skip
        return envelope_of(event, producer="sender")

    await models.outcomes(outcome(30, 403))
    await models.slices(batch(OURS, 0, [10, 20, 30]), batch(OURS, 0, [10, 20, 30]))
    await models.slices(batch("brd_other", 0, [10]))
    await models.outcomes(outcome(10), outcome(10, 400), outcome(20, 400))

    async def page(status: Any = None, limit: int = 10, after: Any = None) -> list[Any]:
        async with models.backend.work() as work:
            rows, _ = await recipients.list_recipients(
                models.recipients(work), OURS, limit, after, status
            )
        return [(r.chat_id, r.status, r.reason, r.error_code) for r in rows]

    why = "chat blocked the bot: Forbidden: bot was blocked by the user"
    # Known since its slice, even when its outcome came first (30): the earlier time stays.
    assert await page() == [
        (10, "sent", None, None), (20, "failed", why, 400), (30, "blocked", why, 403),
    ]  # fmt: skip
    assert await page("sent") == [(10, "sent", None, None)]
    assert await page("pending") == []
    async with models.backend.work() as work:
        first, more = await recipients.list_recipients(models.recipients(work), OURS, 1, None, None)
        rest = await models.recipients(work).page(OURS, 5, (first[0].created_at, 10))
        other = await models.recipients(work).page("brd_other", 5, None)
    assert more
    assert [r.chat_id for r in rest] == [20, 30]
    assert other == []


async def test_skipped_recipients_alike_whatever_comes_first(models: Models) -> None:
    def skip(bid: str, n: int, reason: Any, chat_ids: list[int]) -> Envelope[Any]:
        event = BroadcastRecipientsSkipped(
            slice_id=f"{bid}:skipped:{n}", broadcast_id=bid, bot_id=7, reason=reason,
            chat_ids=chat_ids, skipped_at=T0,
        )  # fmt: skip
        return envelope_of(event, producer="scheduler")

    def batch(n: int, chat_ids: list[int]) -> Envelope[Any]:
        event = SendBatchRequested(
            batch_id=f"{OURS}:{n}", bot_id=7, chat_ids=chat_ids, text="t", source=source(OURS)
        )
        return envelope_of(event, producer="scheduler")

    def sent(chat: int) -> Envelope[Any]:
        event = MessageSent(
            delivery_id=f"{OURS}:{chat}", bot_id=7, chat_id=chat, attempts=1,
            telegram_message_id=chat, sent_at=LATER, source=source(OURS),
        )  # fmt: skip
        return envelope_of(event, producer="sender")

    # None of these orders happens (a skipped chat is in no slice and has no outcome), but
    # each gives the same row: an outcome wins over skipped, skipped over pending.
    await models.outcomes(sent(80))
    await models.skipped(skip(OURS, 0, "blocked", [40, 70, 80]))
    await models.skipped(
        skip(OURS, 0, "blocked", [40, 70, 80]), skip("brd_other", 0, "stopped", [1])
    )
    await models.slices(batch(0, [50, 70]))
    await models.skipped(skip(OURS, 1, "stopped", [50, 90]))
    await models.outcomes(sent(90))

    async def rows(status: Any = None, bid: str = OURS) -> list[Any]:
        async with models.backend.work() as work:
            found, _ = await recipients.list_recipients(
                models.recipients(work), bid, 10, None, status
            )
        return sorted((r.chat_id, r.status, r.reason) for r in found)

    assert await rows() == [
        (40, "skipped", "blocked"), (50, "skipped", "stopped"), (70, "skipped", "blocked"),
        (80, "sent", None), (90, "sent", None),
    ]  # fmt: skip
    assert [c for c, _, _ in await rows("skipped")] == [40, 50, 70]
    assert await rows("pending") == []
    assert await rows(bid="brd_other") == []


def key(n: int, team: str | None) -> ApiKey:
    return ApiKey(
        id=f"key_{n}", name="k", prefix="p", secret_hash="h", scopes=frozenset(Scope),
        created_at=T0, team=team,
    )  # fmt: skip


async def test_notifications_alike(models: Models) -> None:
    mine, teammate, stranger = key(1, "a"), key(2, "a"), key(3, None)
    made = []
    for n in range(3):
        async with models.backend.work() as work:
            request = NotificationRequest(chat_id=n, bot_id=7, text=f"m{n}")
            made.append(
                await notifications.request_notification(
                    work, models.notifications(work), mine, request
                )
            )
    sent = MessageSent(
        delivery_id="d", bot_id=7, chat_id=0, telegram_message_id=5, attempts=1, sent_at=T0,
        source=source_of(made[0].id),
    )  # fmt: skip
    failed = SendFailed(
        delivery_id="d", bot_id=7, chat_id=1, reason="r", permanent=True, attempts=1,
        failed_at=T0, outcome_unknown=True, source=source_of(made[1].id),
    )  # fmt: skip
    for event in (sent, failed, sent):
        envelope = envelope_of(event, producer="sender")
        async with models.backend.work(envelope) as work:
            await notifications.record_outcome(work, models.notifications(work), envelope)
    async with models.backend.work() as work:
        repository = models.notifications(work)
        assert await notifications.edit_message(
            work, repository, teammate, made[0].id, "new", None, None, None
        )
        assert not await notifications.delete_message(work, repository, stranger, made[0].id)
    with pytest.raises(NotEditableError):
        async with models.backend.work() as work:
            await notifications.delete_message(work, models.notifications(work), mine, made[2].id)

    async with models.backend.work() as work:
        repository = models.notifications(work)
        first = await notifications.get_notification(repository, teammate, made[0].id)
        unknown = await notifications.get_notification(repository, mine, made[1].id)
        hidden = await notifications.get_notification(repository, stranger, made[0].id)
        page, more = await notifications.list_notifications(repository, mine, 2, None)
        failures, _ = await notifications.list_notifications(
            repository, mine, 5, None, Status.UNKNOWN
        )
        to_chat, _ = await notifications.list_notifications(repository, mine, 5, None, None, 2)
        theirs, _ = await notifications.list_notifications(repository, stranger, 5, None)
    assert first is not None
    assert (first.status, first.telegram_message_id, first.owner) == (Status.SENT, 5, "team:a")
    assert first.edited_at is not None
    assert first.deleted_at is None
    assert unknown is not None
    assert unknown.failure is not None
    assert (unknown.status, unknown.failure.reason) == (Status.UNKNOWN, "r")
    assert hidden is None
    assert more
    newest_first = sorted(made, key=lambda n: (n.created_at, n.id), reverse=True)
    assert [n.id for n in page] == [n.id for n in newest_first[:2]]
    assert [n.id for n in failures] == [made[1].id]
    assert [n.id for n in to_chat] == [made[2].id]
    assert theirs == []
