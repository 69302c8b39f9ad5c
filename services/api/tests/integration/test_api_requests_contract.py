"""The keys, schedules, broadcasts and subscriptions projections, in memory and on
PostgreSQL: one suite, both backends, fed the events their streams keep. The memory runs are
the fakes' unit tests; the same answers from both is what lets handler tests use the fakes."""

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_support import RequestModels

from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.events import ApiKeyCreated, ApiKeyLimitsSet, ApiKeyRevoked, ApiKeyRotated
from chime_api.domain.keys import ApiKey, Limits, Scope
from chime_api.domain.keys import stream_of as key_stream
from chime_api.domain.schedules import broadcast_stream, schedule_stream, subscription_stream
from chime_contracts.envelope import Event
from chime_contracts.events import (
    BroadcastCancelRequested,
    BroadcastFinished,
    BroadcastProgressed,
    BroadcastRequested,
    BroadcastStarted,
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleFired,
    ScheduleRejected,
    ScheduleRequested,
    SubscriptionRequested,
)
from chime_contracts.events.schedules import CronSpec, MessageTemplate, ScheduleOwner
from chime_kit.streams import Aggregate, Work, decide
from chime_kit.testing import contract_backend

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
_COUNT: Aggregate[int] = Aggregate(0, lambda n, _: n + 1)


class Models(RequestModels):
    async def key_events(self, key_id: str, *events: Event) -> None:
        async with self.backend.work() as work:
            await _record(work, key_stream(key_id), events, self.keys(work).apply)

    async def requested(self, stream: str, *events: Event) -> None:
        """As the handlers record a request or a scheduler result: in its stream, projected."""
        async with self.backend.work() as work:
            await _record(work, stream, events, self.requests(work).apply)


async def _record(work: Work, stream: str, events: Sequence[Event], project: Any) -> None:
    await decide(work, stream, _COUNT, lambda _: [work.wrap(e) for e in events], project=project)


@pytest.fixture
async def models(contract_database: str | None) -> AsyncIterator[Models]:
    async with contract_backend(contract_database, SERVICE, MIGRATIONS) as backend:
        yield Models(backend)


def created(n: int, team: str | None) -> ApiKeyCreated:
    return ApiKeyCreated(
        api_key_id=f"key_{n}", name=f"k{n}", prefix=f"chime_{n}", secret_hash=f"h{n}",
        scopes=["read", "schedule", "notifications:write"], created_at=T0 + timedelta(minutes=n),
        team=team,
    )  # fmt: skip


async def test_keys_alike(models: Models) -> None:
    for n, team in ((1, "a"), (2, "a"), (3, None), (4, "a")):
        await models.key_events(f"key_{n}", created(n, team))
    await models.key_events(
        "key_2", ApiKeyLimitsSet(api_key_id="key_2", rate_per_second=5, burst=9)
    )
    ends = T0 + timedelta(days=1)
    await models.key_events(
        "key_1", ApiKeyRotated(api_key_id="key_1", successor_id="key_4", expires_at=ends)
    )
    await models.key_events("key_4", ApiKeyRevoked(api_key_id="key_4", revoked_at=ends))
    await models.key_events("key_9", ApiKeyRevoked(api_key_id="key_9", revoked_at=ends))
    async with models.backend.work() as work:
        keys = models.keys(work)
        one, two, three, four = [await keys.get(f"key_{n}") for n in range(1, 5)]
        missing = await keys.get("key_9")
        assert one is not None
        assert two is not None
        assert three is not None
        assert four is not None
        team = await keys.page(one, 10, None)
        after = await keys.page(one, 10, (four.created_at, four.id))
        alone = await keys.page(three, 10, None)
        every = await keys.all()
    assert missing is None
    assert one.scopes == frozenset({Scope.READ, Scope.SCHEDULE, Scope.NOTIFY})
    assert (one.expires_at, one.revoked_at, one.team) == (ends, None, "a")
    assert two.limits == Limits(5, 9)
    assert (four.revoked_at, three.team, three.limits) == (ends, None, None)
    assert [k.id for k in team] == ["key_4", "key_2", "key_1"]
    assert [k.id for k in after] == ["key_2", "key_1"]
    assert [k.id for k in alone] == ["key_3"]
    assert [k.id for k in every] == ["key_1", "key_2", "key_3", "key_4"]
    assert all(isinstance(k, ApiKey) for k in every)


def owner(key_id: str) -> ScheduleOwner:
    return ScheduleOwner(kind="api_key", id=key_id)


def schedule(sid: str, key_id: str, n: int) -> ScheduleRequested:
    return ScheduleRequested(
        schedule_id=sid, owner=owner(key_id), bot_id=7, chat_id=1,
        spec=CronSpec(expression="0 9 * * *"), time_zone="UTC", message=MessageTemplate(text="x"),
        requested_at=T0 + timedelta(minutes=n),
    )  # fmt: skip


async def test_schedules_alike(models: Models) -> None:
    await models.key_events("key_1", created(1, "a"))
    await models.key_events("key_2", created(2, None))
    for n, (sid, key_id) in enumerate(
        [("sch_1", "key_1"), ("sch_2", "key_1"), ("sch_3", "key_2"), ("sch_4", "key_unknown")]
    ):
        await models.requested(schedule_stream(sid), schedule(sid, key_id, n))
    hourly = CronSpec(expression="0 * * * *")
    later = T0 + timedelta(days=1)
    await models.requested(
        schedule_stream("sch_1"),
        ScheduleChangeRequested(
            change_id="c1", schedule_id="sch_1", owner=owner("key_1"), action="update",
            time_zone="Europe/Kyiv", message=MessageTemplate(text="y"), requested_at=later,
        ),
        ScheduleCreated(
            schedule_id="sch_1", number=3, owner=owner("key_1"), bot_id=7, chat_id=1,
            spec=hourly, time_zone="Europe/Kyiv", message=MessageTemplate(text="y"),
            misfire="fire_late", misfire_grace_seconds=300, jitter_seconds=0, next_at=later,
            fire_at=later,
        ),
        ScheduleFired(schedule_id="sch_1", occurrence=later, fired_at=later, delivery_id="d",
                      next_at=later + timedelta(hours=1), fire_at=None),
        ScheduleChanged(schedule_id="sch_1", change_id="c2", action="moved", by="migration",
                        status="active", chat_id=-100, next_at=later),
        ScheduleRejected(request_id="c3", schedule_ref="sch_1", owner=owner("key_1"),
                         action="update", reason="no such zone"),
    )  # fmt: skip
    await models.requested(
        schedule_stream("sch_2"),
        ScheduleChangeRequested(change_id="c4", schedule_id="sch_2", owner=owner("key_1"),
                                action="pause", requested_at=later),
        ScheduleRejected(request_id="c5", schedule_ref="sch_2", owner=owner("key_1"),
                         action="create", reason="no such chat"),
    )  # fmt: skip
    async with models.backend.work() as work:
        requests = models.requests(work)
        first, second = await requests.schedule("sch_1"), await requests.schedule("sch_2")
        unowned = await requests.schedule("sch_4")
        team = await requests.schedules("team:a", 10, None, None)
        rejected = await requests.schedules("team:a", 10, None, "rejected")
        paged = await requests.schedules("team:a", 1, (T0 + timedelta(minutes=1), "sch_2"), None)
        alone = await requests.schedules("key:key_2", 10, None, None)
    assert unowned is None
    assert first is not None
    assert second is not None
    assert (first.owner, first.status, first.number, first.fired) == ("team:a", "active", 3, 1)
    assert (first.time_zone, first.message, first.chat_id) == (
        "Europe/Kyiv", {"text": "y", "disable_notification": False}, -100,
    )  # fmt: skip
    assert first.spec == hourly.model_dump(mode="json")
    assert (first.next_at, first.last_fired_at, first.reason) == (later, later, "no such zone")
    assert (second.status, second.reason) == ("rejected", "no such chat")
    assert [s.id for s in team] == ["sch_2", "sch_1"]
    assert [s.id for s in rejected] == ["sch_2"]
    assert [s.id for s in paged] == ["sch_1"]
    assert [s.id for s in alone] == ["sch_3"]


async def test_broadcasts_alike(models: Models) -> None:
    await models.key_events("key_1", created(1, "a"))
    for n, topic in enumerate(["news", "news", "alerts"]):
        requested = BroadcastRequested(
            broadcast_id=f"brd_{n}", owner=owner("key_1"), bot_id=7, topic=topic,
            message=MessageTemplate(text="m"), requested_at=T0 + timedelta(minutes=n),
        )  # fmt: skip
        await models.requested(broadcast_stream(f"brd_{n}"), requested)
    eta = T0 + timedelta(hours=1)
    finished = T0 + timedelta(minutes=30)
    await models.requested(
        broadcast_stream("brd_0"),
        BroadcastProgressed(broadcast_id="brd_0", handed=10, sent=5, failed=1, skipped=2),
        BroadcastStarted(broadcast_id="brd_0", owner=owner("key_1"), bot_id=7, topic="news",
                         recipients=100, skipped=1, slices=1, started_at=T0,
                         estimated_finish_at=eta),
        BroadcastFinished(broadcast_id="brd_0", handed=98, sent=90, failed=8, skipped=2,
                          finished_at=finished),
        BroadcastProgressed(broadcast_id="brd_0", handed=99, sent=95, failed=1, skipped=3),
    )  # fmt: skip
    await models.requested(
        broadcast_stream("brd_1"),
        BroadcastStarted(broadcast_id="brd_1", owner=owner("key_1"), bot_id=7, topic="news",
                         recipients=3, skipped=0, slices=1, started_at=T0,
                         estimated_finish_at=eta),
        BroadcastProgressed(broadcast_id="brd_1", handed=2, sent=1, failed=0, skipped=0,
                            estimated_finish_at=finished),
        BroadcastCancelRequested(broadcast_id="brd_1", owner=owner("key_1"), requested_at=T0),
    )  # fmt: skip
    await models.requested(
        broadcast_stream("brd_9"),
        BroadcastProgressed(broadcast_id="brd_9", handed=1, sent=1, failed=0, skipped=0),
    )
    async with models.backend.work() as work:
        requests = models.requests(work)
        done, cancelled = await requests.broadcast("brd_0"), await requests.broadcast("brd_1")
        waiting, unknown = await requests.broadcast("brd_2"), await requests.broadcast("brd_9")
        news = await requests.broadcasts("team:a", 10, None, "news")
        paged = await requests.broadcasts("team:a", 2, (T0 + timedelta(minutes=2), "brd_2"), None)
        theirs = await requests.broadcasts("team:b", 10, None, None)
    assert unknown is None
    assert done is not None
    assert cancelled is not None
    assert waiting is not None
    assert (done.status, done.recipients, done.handed, done.sent, done.failed, done.skipped) == (
        "finished", 100, 98, 90, 8, 2,
    )  # fmt: skip
    assert (done.started_at, done.estimated_finish_at, done.finished_at) == (T0, eta, finished)
    assert (cancelled.status, cancelled.handed, cancelled.estimated_finish_at) == (
        "cancelled", 2, finished,
    )  # fmt: skip
    assert (waiting.status, waiting.owner, waiting.message) == (
        "requested", "team:a", {"text": "m", "disable_notification": False},
    )  # fmt: skip
    assert [b.id for b in news] == ["brd_1", "brd_0"]
    assert [b.id for b in paged] == ["brd_1", "brd_0"]
    assert theirs == []


async def test_subscriptions_alike(models: Models) -> None:
    await models.key_events("key_1", created(1, "a"))
    await models.key_events("key_2", created(2, "a"))
    await models.key_events("key_3", created(3, None))

    async def ask(key_id: str, topic: str, chat: int, subscribe: bool, minute: int) -> None:
        event = SubscriptionRequested(
            bot_id=7, chat_id=chat, topic=topic, action="subscribe" if subscribe else "unsubscribe",
            requested_by=owner(key_id), requested_at=T0 + timedelta(minutes=minute),
        )  # fmt: skip
        owner_of = "key:key_3" if key_id == "key_3" else "team:a"
        await models.requested(subscription_stream(owner_of, topic, 7, chat), event)

    for minute, chat in enumerate([1, 2, 3]):
        await ask("key_1", "news", chat, True, minute)
    await ask("key_2", "news", 2, False, 5)  # a teammate's key owns the same subscriptions
    await ask("key_2", "news", 1, True, 6)
    await ask("key_1", "gone", 4, True, 7)
    await ask("key_1", "gone", 4, False, 8)
    await ask("key_3", "news", 9, True, 9)
    await ask("key_unknown", "news", 8, True, 10)
    async with models.backend.work() as work:
        requests = models.requests(work)
        news = await requests.subscriptions("team:a", "news", 10, None)
        after = await requests.subscriptions(
            "team:a", "news", 1, (T0 + timedelta(minutes=6), "7:1")
        )
        topics = await requests.topics("team:a")
        alone = await requests.topics("key:key_3")
    assert [(s.chat_id, s.changed_at) for s in news] == [
        (1, T0 + timedelta(minutes=6)), (3, T0 + timedelta(minutes=2)),
    ]  # fmt: skip
    assert [s.chat_id for s in after] == [3]
    assert topics == [("gone", 0), ("news", 2)]
    assert alone == [("news", 1)]
