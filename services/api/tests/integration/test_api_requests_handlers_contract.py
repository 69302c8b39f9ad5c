"""The keys, schedules, broadcasts and topics handlers, in memory and on PostgreSQL: one
suite, both backends, the handlers given their repositories as the routes give them. The
memory runs are the handlers' unit tests."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from api_support import RequestModels

from chime_api.bootstrap import MIGRATIONS, SERVICE
from chime_api.domain.keys import ApiKey, Limits, Scope
from chime_api.domain.schedules import ClosedError
from chime_api.handlers import keys, schedules
from chime_contracts.envelope import envelope_of
from chime_contracts.events import BroadcastStarted, ScheduleCreated
from chime_contracts.events.schedules import CronSpec, MessageTemplate, ScheduleOwner
from chime_kit.testing import contract_backend

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CRON = CronSpec(expression="0 9 * * 1-5")


class Models(RequestModels):
    async def key(self, name: str, team: str | None, *scopes: Scope) -> ApiKey:
        new = keys.NewKey(name, frozenset(scopes or (Scope.ADMIN, Scope.READ)), team)
        async with self.backend.work() as work:
            made, plaintext = await keys.create_api_key(work, self.keys(work), new)
        assert plaintext.startswith("chime_")
        return made


@pytest.fixture
async def models(contract_database: str | None) -> AsyncIterator[Models]:
    async with contract_backend(contract_database, SERVICE, MIGRATIONS) as backend:
        yield Models(backend)


async def test_keys_managed_alike(models: Models) -> None:
    admin = await models.key("admin", "a")
    worker = await models.key("worker", "a", Scope.NOTIFY)
    loner = await models.key("loner", None)
    async with models.backend.work() as work:
        repository = models.keys(work)
        rotated = await keys.rotate_api_key(work, repository, worker.id, timedelta(hours=1))
        limited = await keys.set_limits(work, repository, admin.id, Limits(5, 9))
        unknown_limits = await keys.set_limits(work, repository, "key_missing", Limits(1, 1))
    assert rotated is not None
    successor, _ = rotated
    async with models.backend.work() as work:
        repository = models.keys(work)
        first_revoke = await keys.revoke_api_key(work, repository, loner.id)
        second_revoke = await keys.revoke_api_key(work, repository, loner.id)
        rotate_revoked = await keys.rotate_api_key(work, repository, loner.id, timedelta(hours=1))
    async with models.backend.work() as work:
        repository = models.keys(work)
        old = await keys.get_key(repository, worker.id)
        teammate = await keys.owned_key(repository, admin, worker.id)
        stranger = await keys.owned_key(repository, admin, loner.id)
        itself = await keys.owned_key(repository, loner, loner.id)
        page, more = await keys.page_of_keys(repository, admin, 2, None)
        rest, more_after = await keys.page_of_keys(
            repository, admin, 2, (page[-1].created_at, page[-1].id)
        )
        alone, _ = await keys.page_of_keys(repository, loner, 10, None)
        every = await keys.list_api_keys(repository)
    assert limited is not None
    assert limited.limits == Limits(5, 9)
    assert unknown_limits is None
    assert (successor.name, successor.scopes, successor.team) == (
        "worker", frozenset({Scope.NOTIFY}), "a",
    )  # fmt: skip
    assert old is not None
    assert old.expires_at is not None
    assert old.revoked_at is None
    assert (first_revoke, second_revoke, rotate_revoked) == (True, False, None)
    assert teammate is not None
    assert teammate.id == worker.id
    assert stranger is None
    assert itself is not None
    assert itself.revoked_at is not None
    assert more
    assert not more_after
    assert {k.id for k in page + rest} == {admin.id, worker.id, successor.id}
    assert [k.id for k in alone] == [loner.id]
    assert {k.id for k in every} == {admin.id, worker.id, successor.id, loner.id}


def new_schedule(chat_id: int) -> schedules.NewSchedule:
    return schedules.NewSchedule(
        bot_id=7, chat_id=chat_id, topic=None, spec=CRON, time_zone="Europe/Kyiv",
        message=MessageTemplate(text="stand-up"),
    )  # fmt: skip


async def test_schedules_handled_alike(models: Models) -> None:
    mine = await models.key("mine", "a", Scope.SCHEDULE, Scope.READ)
    teammate = await models.key("teammate", "a", Scope.SCHEDULE, Scope.READ)
    stranger = await models.key("stranger", None, Scope.SCHEDULE, Scope.READ)
    async with models.backend.work() as work:
        first = await schedules.create_schedule(work, models.requests(work), mine, new_schedule(1))
    async with models.backend.work() as work:
        second = await schedules.create_schedule(
            work, models.requests(work), teammate, new_schedule(2)
        )
    assert (first.status, first.owner, first.api_key_id) == ("requested", "team:a", mine.id)
    created = ScheduleCreated(
        schedule_id=first.id, number=4, owner=ScheduleOwner(kind="api_key", id=mine.id),
        bot_id=7, chat_id=1, spec=CRON, time_zone="Europe/Kyiv",
        message=MessageTemplate(text="stand-up"), misfire="fire_late", misfire_grace_seconds=300,
        jitter_seconds=0, next_at=T0, fire_at=T0,
    )  # fmt: skip
    theirs = ScheduleCreated(**{**created.model_dump(), "schedule_id": "sch_not_ours"})
    for result in (created, theirs):
        envelope = envelope_of(result, producer="scheduler")
        async with models.backend.work(envelope) as work:
            await schedules.record_result(work, models.requests(work), envelope)
    async with models.backend.work() as work:
        requests = models.requests(work)
        paused = await schedules.change_schedule(work, requests, teammate, first.id, "pause")
        again = await schedules.change_schedule(work, requests, mine, first.id, "pause")
        hidden = await schedules.change_schedule(work, requests, stranger, first.id, "resume")
        updated = await schedules.change_schedule(
            work, requests, mine, second.id, "update", schedules.Update(time_zone="UTC")
        )
    async with models.backend.work() as work:
        requests = models.requests(work)
        await schedules.change_schedule(work, requests, mine, second.id, "cancel")
        cancelled_twice = await schedules.change_schedule(work, requests, mine, second.id, "cancel")
    with pytest.raises(ClosedError):
        async with models.backend.work() as work:
            await schedules.change_schedule(work, models.requests(work), mine, second.id, "resume")
    async with models.backend.work() as work:
        requests = models.requests(work)
        seen = await schedules.get_schedule(requests, teammate, first.id)
        unseen = await schedules.get_schedule(requests, stranger, first.id)
        not_kept = await schedules.get_schedule(requests, mine, "sch_not_ours")
        page, more = await schedules.list_schedules(requests, mine, 1, None, None)
        rest, _ = await schedules.list_schedules(
            requests, mine, 5, (page[0].created_at, page[0].id), None
        )
        active, _ = await schedules.list_schedules(requests, mine, 5, None, "paused")
        none, _ = await schedules.list_schedules(requests, stranger, 5, None, None)
    assert paused is not None
    assert again is not None
    assert (paused.status, paused.number, again.status) == ("paused", 4, "paused")
    assert hidden is None
    assert updated is not None
    assert updated.time_zone == "UTC"
    assert cancelled_twice is not None
    assert cancelled_twice.status == "cancelled"
    assert seen is not None
    assert seen.id == first.id
    assert (unseen, not_kept) == (None, None)
    assert more
    assert {page[0].id, *(r.id for r in rest)} == {first.id, second.id}
    assert [s.id for s in active] == [first.id]
    assert none == []


async def test_broadcasts_handled_alike(models: Models) -> None:
    mine = await models.key("mine", "a", Scope.BROADCAST, Scope.READ)
    stranger = await models.key("stranger", "b", Scope.BROADCAST, Scope.READ)
    made = []
    for topic in ("news", "alerts", "news"):
        async with models.backend.work() as work:
            made.append(
                await schedules.create_broadcast(
                    work, models.requests(work), mine, 7, topic, MessageTemplate(text="t"), None
                )
            )
    started = BroadcastStarted(
        broadcast_id=made[0].id, owner=ScheduleOwner(kind="api_key", id=mine.id), bot_id=7,
        topic="news", recipients=3, skipped=1, slices=1, started_at=T0, estimated_finish_at=T0,
    )  # fmt: skip
    envelope = envelope_of(started, producer="scheduler")
    async with models.backend.work(envelope) as work:
        await schedules.record_result(work, models.requests(work), envelope)
    async with models.backend.work() as work:
        requests = models.requests(work)
        refused = await schedules.cancel_broadcast(work, requests, stranger, made[0].id)
        cancelled = await schedules.cancel_broadcast(work, requests, mine, made[0].id)
        twice = await schedules.cancel_broadcast(work, requests, mine, made[0].id)
    async with models.backend.work() as work:
        requests = models.requests(work)
        news, _ = await schedules.list_broadcasts(requests, mine, 5, None, "news")
        page, more = await schedules.list_broadcasts(requests, mine, 2, None, None)
        theirs, _ = await schedules.list_broadcasts(requests, stranger, 5, None, None)
        hidden = await schedules.get_broadcast(requests, stranger, made[1].id)
        shown = await schedules.get_broadcast(requests, mine, made[1].id)
    assert refused is None
    assert cancelled is not None
    assert twice is not None
    assert (cancelled.status, cancelled.recipients, twice.status) == ("cancelled", 3, "cancelled")
    assert {b.id for b in news} == {made[0].id, made[2].id}
    assert (len(page), more) == (2, True)
    assert theirs == []
    assert hidden is None
    assert shown is not None
    assert (shown.topic, shown.status, shown.owner) == ("alerts", "requested", "team:a")


async def test_topics_handled_alike(models: Models) -> None:
    mine = await models.key("mine", "a", Scope.TOPICS, Scope.READ)
    teammate = await models.key("teammate", "a", Scope.TOPICS, Scope.READ)
    stranger = await models.key("stranger", None, Scope.TOPICS, Scope.READ)
    for key, topic, chat, subscribed in (
        (mine, "news", 1, True), (mine, "news", 2, True), (teammate, "news", 3, True),
        (mine, "news", 2, True), (teammate, "news", 1, False), (mine, "gone", 4, True),
        (mine, "gone", 4, False), (stranger, "news", 9, True),
    ):  # fmt: skip
        async with models.backend.work() as work:
            await schedules.subscribe(work, models.requests(work), key, topic, 7, chat, subscribed)
    async with models.backend.work() as work:
        requests = models.requests(work)
        topics = await schedules.list_topics(requests, teammate)
        alone = await schedules.list_topics(requests, stranger)
        page, more = await schedules.list_subscriptions(requests, mine, "news", 1, None)
        last = page[-1]
        rest, more_after = await schedules.list_subscriptions(
            requests, mine, "news", 5, (last.changed_at, f"{last.bot_id}:{last.chat_id}")
        )
    assert topics == [("gone", 0), ("news", 2)]
    assert alone == [("news", 1)]
    assert (more, more_after) == (True, False)
    assert {s.chat_id for s in page + rest} == {2, 3}
    assert all(s.subscribed and s.topic == "news" for s in page + rest)
