"""`python -m chime_scheduler rebuild` re-derives the reminders projection from the streams,
row for row, after a workload of duplicates, racing replicas and firing."""

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import ReminderRequested, ScheduleChangeRequested
from chime_contracts.events.schedules import ScheduleOwner
from chime_kit.testing import table_rows
from chime_scheduler.entrypoints.service import create_service
from chime_scheduler.settings import SchedulerSettings

pytestmark = pytest.mark.integration


def request(n: int, due_at: datetime):
    return envelope_of(
        ReminderRequested(
            reminder_id=f"w{n}", bot_id=1 + n % 3, chat_id=n % 17, user_id=n, text=f"note {n}",
            due_at=due_at, time_zone="Europe/Kyiv", phrase="in 1s",
        ),
        producer="ingest",
    )  # fmt: skip


def cancel(n: int):
    return envelope_of(
        ScheduleChangeRequested(
            change_id=f"c{n}", schedule_id=f"w{n}",
            owner=ScheduleOwner(kind="chat", id=f"{1 + n % 3}:{n % 17}"), action="cancel",
            requested_at=datetime.now(UTC),
        ),
        producer="ingest",
    )  # fmt: skip


def rebuild(database_url: str) -> str:
    env = {
        **os.environ,
        "CHIME_SCHEDULER_DATABASE_URL": database_url,
        "CHIME_SCHEDULER_LOG_JSON": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chime_scheduler", "rebuild"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stderr + done.stdout


async def test_rebuilt_reminders_equal_the_live_projection(database_url):
    settings = SchedulerSettings(database_url=database_url, fire_batch_size=25)
    schedulers = [await create_service(settings) for _ in range(2)]
    now = datetime.now(UTC)
    requests = [
        request(n, now - timedelta(seconds=1) if n % 2 else now + timedelta(hours=n + 1))
        for n in range(120)
    ]
    try:
        # Every request reaches both replicas, some twice: each is recorded once.
        async def deliver(scheduler, envelopes):
            for e in envelopes:
                await scheduler.runtime.broker.deliver(e)

        await asyncio.gather(
            deliver(schedulers[0], requests), deliver(schedulers[1], requests + requests[:10])
        )

        # Three reminders still to fire are cancelled by their owner (one of them twice).
        for n in (0, 2, 4, 4):
            await schedulers[n % 4 // 2].runtime.broker.deliver(cancel(n))
        fired = await asyncio.gather(*(s.firing.fire_until_idle() for s in schedulers))
        assert sum(fired) == 60
        pool = schedulers[0].runtime.pool
        live = await table_rows(pool, "reminders")
        assert len(live) == 120
        assert sum('"state":"cancelled"' in row for row in live) == 3
        events = await pool.fetchval("SELECT count(*) FROM events")
        assert events == 120 * 2 + 60 + 3

        output = await asyncio.to_thread(rebuild, database_url)
        assert "from 303 events" in output
        assert await table_rows(pool, "reminders") == live
        assert await schedulers[0].firing.fire_once() == 0
    finally:
        for scheduler in schedulers:
            await scheduler.runtime.pool.close()


async def test_rebuilt_schedules_topics_chats_and_broadcasts_equal_the_live_ones(database_url):
    """Every projection after a workload of every request kind, firing and outcomes."""
    from chime_contracts.events import (
        BroadcastCancelRequested,
        BroadcastRequested,
        ChatBlocked,
        ChatMemberChanged,
        ChatMigrated,
        ChatStopped,
        LanguageSet,
        MessageSent,
        ScheduleChangeRequested,
        SnoozeRequested,
        SubscriptionRequested,
        TimeZoneSet,
    )
    from chime_contracts.events.schedules import (
        CronSpec,
        MessageTemplate,
        OnceSpec,
        PingsSpec,
        RRuleSpec,
        ScheduleOwner,
    )
    from chime_contracts.events.shared import SendSource

    from .flow import chat_owner, schedule_request

    scheduler = await create_service(
        SchedulerSettings(database_url=database_url, fire_batch_size=7)
    )
    deliver, pool = scheduler.runtime.broker.deliver, scheduler.runtime.pool
    now = datetime.now(UTC)
    api = ScheduleOwner(kind="api_key", id="k1")

    def of(event):
        return envelope_of(event, producer="test")

    try:
        specs = [
            CronSpec(expression="*/5 * * * *"), RRuleSpec(rrule="FREQ=DAILY;BYHOUR=9"),
            PingsSpec(per_day=3, window_start="09:00", window_end="21:00"),
            OnceSpec(at=now - timedelta(seconds=1)), CronSpec(expression="bad cron x"),
            RRuleSpec(rrule="FREQ=MINUTELY", starts_at=now - timedelta(minutes=3)),
        ]  # fmt: skip
        for n in range(30):
            await deliver(schedule_request(
                f"s{n}", specs[n % len(specs)], chat_id=n % 4, jitter_seconds=n % 3 * 10,
                misfire=("fire_late", "skip", "coalesce")[n % 3],
                requested_at=now - timedelta(minutes=4),
            ))  # fmt: skip
        await deliver(schedule_request("t1", OnceSpec(at=now - timedelta(seconds=1)),
                                       chat_id=None, topic="news", owner=api,
                                       requested_at=now - timedelta(seconds=5)))  # fmt: skip
        for n, action in enumerate(["pause", "resume", "pause", "cancel", "update"]):
            await deliver(of(ScheduleChangeRequested(
                change_id=f"c{n}", schedule_id=f"#{n + 1}", owner=chat_owner(1),
                action=action, spec=CronSpec(expression="0 7 * * *"), requested_at=now,
            )))  # fmt: skip
        for chat_id in range(10):
            await deliver(of(SubscriptionRequested(
                bot_id=1, chat_id=chat_id, topic="news", action="subscribe",
                requested_by=chat_owner(chat_id), requested_at=now)))  # fmt: skip
        await deliver(of(SubscriptionRequested(
            bot_id=1, chat_id=9, topic="news", action="unsubscribe",
            requested_by=chat_owner(9), requested_at=now)))  # fmt: skip
        await deliver(of(ChatBlocked(bot_id=1, chat_id=8, detected_by="send_forbidden",
                                     blocked_at=now)))  # fmt: skip
        await deliver(of(ChatMemberChanged(bot_id=1, chat_id=7, chat_type="private",
                                           old_state="member", new_state="kicked",
                                           changed_at=now)))  # fmt: skip
        await deliver(of(ChatStopped(bot_id=1, chat_id=2, stopped_at=now)))
        await deliver(of(ReminderRequested(
            reminder_id="moved", bot_id=1, chat_id=3, user_id=3, text="x", phrase="tomorrow",
            due_at=now + timedelta(days=1), time_zone="Europe/Kyiv")))  # fmt: skip
        await deliver(of(TimeZoneSet(bot_id=1, chat_id=3, user_id=3, time_zone="Asia/Tokyo")))
        await deliver(of(LanguageSet(bot_id=1, chat_id=3, language="uk", chosen_by="command")))
        await deliver(of(ChatMigrated(bot_id=1, old_chat_id=0, new_chat_id=-100,
                                      migrated_at=now)))  # fmt: skip
        await deliver(of(SnoozeRequested(snooze_id="z1", bot_id=1, chat_id=1, text="tea",
                                         until=now - timedelta(seconds=1),
                                         time_zone="UTC", requested_at=now)))  # fmt: skip
        for b, at in (("b1", None), ("b2", now + timedelta(hours=1))):
            await deliver(of(BroadcastRequested(
                broadcast_id=b, owner=api, bot_id=1, topic="news",
                message=MessageTemplate(text="hi"), at=at, requested_at=now)))  # fmt: skip
        await deliver(of(BroadcastCancelRequested(broadcast_id="b2", owner=api,
                                                  requested_at=now)))  # fmt: skip
        assert await scheduler.firing.fire_until_idle() >= 7  # more if */5 passed a boundary
        for chat_id in (-100, 1, 3, 4, 5, 6):  # b1: 0 moved, 2 stopped, 7 and 8 blocked, 9 left
            await deliver(of(MessageSent(
                delivery_id=f"b1:0:{chat_id}", bot_id=1, chat_id=chat_id,
                telegram_message_id=chat_id, attempts=1, sent_at=now,
                source=SendSource(kind="broadcast", id="b1"))))  # fmt: skip

        tables = ("schedules", "subscriptions", "topics", "chats", "broadcasts", "reminders")
        live = {t: await table_rows(pool, t) for t in tables}
        assert any('"time_zone":"Asia/Tokyo"' in r for r in live["reminders"])  # moved
        assert len(live["schedules"]) == 26  # 5 of 31 were rejected
        assert "finished" in {r.split('"status":"')[1].split('"')[0] for r in live["broadcasts"]}
        await asyncio.to_thread(rebuild, database_url)
        assert {t: await table_rows(pool, t) for t in tables} == live
    finally:
        await pool.close()
