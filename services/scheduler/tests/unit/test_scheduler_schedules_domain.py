"""Schedule decisions and the misfire policies, on a fake clock: pure, no I/O."""

from datetime import UTC, date, datetime, timedelta

import pytest

from chime_contracts.envelope import envelope_of
from chime_contracts.events import (
    ScheduleChanged,
    ScheduleChangeRequested,
    ScheduleCreated,
    ScheduleRejected,
    ScheduleRequested,
)
from chime_contracts.events.schedules import (
    CronSpec,
    MessageTemplate,
    OnceSpec,
    PingsSpec,
    RRuleSpec,
    ScheduleOwner,
)
from chime_scheduler.domain import schedules
from chime_scheduler.domain.schedules import SCHEDULE, plan
from chime_schedules import timetable

pytestmark = pytest.mark.unit
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # Monday 08:00 in Kyiv
OWNER = ScheduleOwner(kind="chat", id="1:5")


def request(spec, **more):
    fields = {
        "schedule_id": "s1", "owner": OWNER, "bot_id": 1, "chat_id": 5, "spec": spec,
        "time_zone": "Europe/Kyiv", "message": MessageTemplate(text="stand-up"),
        "requested_at": T0,
    } | more  # fmt: skip
    return envelope_of(ScheduleRequested(**fields), producer="ingest")


def created(spec=None, **more):
    envelope = request(spec or CronSpec(expression="30 8 * * 1-5"), **more)
    events = schedules.create(SCHEDULE.initial, envelope, number=12)
    return SCHEDULE.fold([envelope, envelope_of(events[-1], producer="scheduler")]), events


def change(state, action, **more):
    asked = ScheduleChangeRequested(
        change_id=f"c-{action}", schedule_id="#12", owner=more.pop("owner", OWNER),
        action=action, requested_at=T0, **more,
    )  # fmt: skip
    return schedules.change(state, envelope_of(asked, producer="ingest"), "s1", T0)


def test_a_request_is_kept_and_created_with_its_number_and_first_occurrence():
    state, events = created()
    assert isinstance(events[-1], ScheduleCreated)
    assert events[-1].number == 12
    assert events[-1].next_at == datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    assert (state.status, state.number) == ("active", 12)
    assert schedules.create(state, request(CronSpec(expression="* * * * *")), 13) == []


def test_what_was_left_to_chance_is_fixed_when_created():
    _, events = created(RRuleSpec(rrule="FREQ=DAILY;BYHOUR=9"), starts_on=date(2026, 3, 5))
    assert events[-1].spec.starts_at == datetime(2026, 3, 5, 0, 0)
    _, pings = created(PingsSpec(per_day=2, window_start="10:00", window_end="12:00"))
    assert pings[-1].spec.seed is not None
    _, again = created(PingsSpec(per_day=2, window_start="10:00", window_end="12:00"))
    assert again[-1].spec.seed == pings[-1].spec.seed  # from the id: a retry decides alike


@pytest.mark.parametrize(
    ("spec", "more", "reason"),
    [
        (CronSpec(expression="99 * * * *"), {}, "bad cron"),
        (OnceSpec(at=datetime(2020, 1, 1, 9)), {}, "never fire"),
        (CronSpec(expression="0 9 * * *"), {"topic": "news"}, "exactly one target"),
        (CronSpec(expression="0 9 * * *"), {"time_zone": "Mars/Base"}, "unknown time zone"),
    ],
)
def test_a_bad_request_is_rejected_with_a_reason(spec, more, reason):
    events = schedules.create(SCHEDULE.initial, request(spec, **more), 1)
    assert isinstance(events[-1], ScheduleRejected)
    assert reason in events[-1].reason


def test_pause_resume_update_cancel_and_their_refusals():
    state, _ = created()
    paused = change(state, "pause")[-1]
    assert isinstance(paused, ScheduleChanged)
    assert paused.status == "paused"
    state = schedules.evolve(state, paused)
    assert isinstance(change(state, "pause")[-1], ScheduleRejected)
    resumed = change(state, "resume")[-1]
    assert (resumed.status, resumed.next_at) == ("active", datetime(2026, 3, 2, 6, 30, tzinfo=UTC))
    updated = change(state, "update", spec=CronSpec(expression="0 12 * * *"))[-1]
    assert updated.next_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    cancelled = change(state, "cancel")[-1]
    assert (cancelled.status, cancelled.next_at) == ("cancelled", None)
    state = schedules.evolve(state, cancelled)
    assert "over" in change(state, "resume")[-1].reason
    stranger = ScheduleOwner(kind="chat", id="1:6")
    assert isinstance(change(state, "pause", owner=stranger)[-1], ScheduleRejected)


def test_stop_pauses_and_start_resumes_only_what_stop_paused():
    state, _ = created()
    [stopped] = schedules.pause_for_stop(state, "s1", "e1")
    state = schedules.evolve(state, stopped)
    assert state.paused_by == "chat_stopped"
    later = T0 + timedelta(days=2)
    [resumed] = schedules.resume_after_start(state, "s1", "e2", later)
    assert resumed.next_at == datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # from now: none late
    by_owner = schedules.evolve(state, change(schedules.evolve(state, resumed), "pause")[-1])
    assert schedules.resume_after_start(by_owner, "s1", "e3", later) == []


def test_a_new_zone_keeps_the_wall_time_and_a_migration_moves_chat_and_owner():
    state, _ = created()
    [moved] = schedules.move_zone(state, "s1", "e1", "America/New_York", T0)
    assert moved.next_at == datetime(2026, 3, 2, 13, 30, tzinfo=UTC)  # 08:30 in New York
    assert schedules.move_zone(state, "s1", "e1", "Europe/Kyiv", T0) == []
    [migrated] = schedules.migrate(state, "s1", "e2", 1, -1005)
    assert (migrated.chat_id, migrated.owner) == (-1005, ScheduleOwner(kind="chat", id="1:-1005"))


@pytest.mark.parametrize("zone", ["Europe/Bucharest", "Asia/Tokyo", "America/New_York"])
def test_a_once_due_at_the_moment_its_zone_changes_still_fires_once(zone):
    due = datetime(2026, 3, 2, 9, 0)  # 07:00 UTC in Kyiv
    state, _ = created(OnceSpec(at=due))
    at = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    for now in (at, at + timedelta(seconds=3)):  # the very moment, and not yet claimed
        [moved] = schedules.move_zone(state, "s1", "e1", zone, now)
        assert (moved.status, moved.next_at, moved.time_zone) == ("active", at, zone)
        after = schedules.evolve(state, moved)
        fired = plan(after.table(), at, now, "fire_late", timedelta(minutes=5),
                     timedelta(seconds=5))  # fmt: skip
        assert (fired.fire, fired.next_at) == ([at], None)


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "Europe/Berlin", "America/New_York"])
def test_a_daily_occurrence_due_at_the_moment_its_zone_changes_fires_once(zone):
    """Due at T (08:30 in Kyiv) and not claimed yet when the zone changes: it fires once,
    at T if 08:30 has passed in the new zone too, else at 08:30 there: neither skipped
    (the next firing a day away) nor doubled."""
    state, _ = created(CronSpec(expression="30 8 * * *"))
    at = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    assert state.next_at == at
    for now in (at, at + timedelta(seconds=3)):  # the very moment, and not yet claimed
        [moved] = schedules.move_zone(state, "s1", "e1", zone, now)
        after = schedules.evolve(state, moved)
        fired_at: list[datetime] = []
        clock, next_at = now, after.next_at
        while next_at is not None and next_at < at + timedelta(hours=12):
            clock = max(clock, next_at)
            step = plan(after.table(), next_at, clock, "fire_late", timedelta(minutes=5),
                        timedelta(seconds=5))  # fmt: skip
            fired_at += step.fire
            next_at = step.next_at
        assert len(fired_at) == 1, (zone, now, fired_at)


def test_a_once_keeps_its_wall_time_in_the_new_zone_and_its_instant_when_that_passed():
    state, _ = created(OnceSpec(at=datetime(2026, 3, 2, 9, 0)))  # 07:00 UTC in Kyiv
    [west] = schedules.move_zone(state, "s1", "e1", "Europe/Berlin", T0)
    assert west.next_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert west.spec is None
    [east] = schedules.move_zone(state, "s1", "e1", "Asia/Tokyo", T0)  # 09:00 there is past
    assert (east.status, east.next_at) == ("active", datetime(2026, 3, 2, 7, 0, tzinfo=UTC))


def test_jitter_is_deterministic_and_bounded():
    spread = {schedules.jitter("s1", T0 + timedelta(days=d), 60) for d in range(50)}
    assert all(timedelta(0) <= j <= timedelta(seconds=60) for j in spread)
    assert len(spread) > 40
    assert schedules.jitter("s1", T0, 60) == schedules.jitter("s1", T0, 60)
    assert schedules.jitter("s1", T0, 0) == timedelta(0)


HOURLY = timetable(CronSpec(expression="0 * * * *"), "UTC")
GRACE, ON_TIME = timedelta(minutes=150), timedelta(seconds=5)


def after_outage(policy, hours_down=5):
    """Due at T0; the scheduler comes back `hours_down` hours (and a minute) later."""
    now = T0 + timedelta(hours=hours_down, minutes=1)
    return plan(HOURLY, T0, now, policy, GRACE, ON_TIME)


def test_fire_late_fires_each_occurrence_within_the_grace_once():
    fired = after_outage("fire_late")
    assert fired.fire == [T0 + timedelta(hours=h) for h in (3, 4, 5)]
    assert fired.missed == 3
    assert fired.next_at == T0 + timedelta(hours=6)


def test_coalesce_fires_the_latest_once():
    fired = after_outage("coalesce")
    assert fired.fire == [T0 + timedelta(hours=5)]
    assert fired.missed == 5


def test_skip_fires_nothing_late():
    fired = after_outage("skip")
    assert fired.fire == []
    assert fired.missed == 6
    assert fired.next_at == T0 + timedelta(hours=6)


@pytest.mark.parametrize("policy", ["fire_late", "skip", "coalesce"])
def test_on_time_is_on_time_for_every_policy(policy):
    fired = plan(HOURLY, T0, T0 + timedelta(seconds=1), policy, GRACE, ON_TIME)
    assert (fired.fire, fired.missed, fired.next_at) == ([T0], 0, T0 + timedelta(hours=1))


def test_a_long_outage_jumps_to_the_present():
    minutely = timetable(CronSpec(expression="* * * * *"), "UTC")
    now = T0 + timedelta(days=30)
    fired = plan(minutely, T0, now, "coalesce", timedelta(minutes=5), ON_TIME)
    assert fired.fire == [now.replace(second=0)]
    assert fired.next_at == now.replace(second=0) + timedelta(minutes=1)


CREATE_CASES = [
    (CronSpec(expression="30 8 * * 1-5"), {}),
    (RRuleSpec(rrule="FREQ=DAILY;BYHOUR=9"), {"starts_on": date(2026, 3, 5)}),
    (RRuleSpec(rrule="FREQ=WEEKLY;BYDAY=MO", starts_at=datetime(2026, 3, 2, 9)), {}),
    (PingsSpec(per_day=2, window_start="10:00", window_end="12:00"), {"jitter_seconds": 60}),
    (OnceSpec(at=datetime(2026, 3, 2, 10)), {"ends_on": date(2026, 3, 9), "language": "uk"}),
]


@pytest.mark.parametrize(("spec", "more"), CREATE_CASES)
def test_created_is_a_valid_one(spec, more):
    made = schedules.create(SCHEDULE.initial, request(spec, **more), 12)[-1]
    assert isinstance(made, ScheduleCreated)
    validated = ScheduleCreated.model_validate(made.model_dump())
    assert validated == made
    assert validated.model_dump_json() == made.model_dump_json()


def test_shared_next_occurrences_decide_as_each_request_alone():
    cases = [
        *CREATE_CASES,
        (CronSpec(expression="99 * * * *"), {}),
        (CronSpec(expression="0 9 * * *"), {"time_zone": "Mars/Base"}),
        (OnceSpec(at=datetime(2020, 1, 1, 9)), {}),
        (CronSpec(expression="0 9 * * *"), {"ends_on": date(2026, 3, 1)}),
        (CronSpec(expression="0 9 * * *"), {"time_zone": "Asia/Tokyo"}),
        (CronSpec(expression="0 9 * * *"), {"requested_at": T0 + timedelta(days=1)}),
    ]
    shared = schedules.NextOccurrences()
    for _ in range(2):  # the second round answered from what the first remembered
        for n, (spec, more) in enumerate(cases):
            asked = request(spec, **{"schedule_id": f"s{n}", **more})
            alone = schedules.create(SCHEDULE.initial, asked, n)
            together = schedules.create(SCHEDULE.initial, asked, n, shared)
            assert [type(e) for e in together] == [type(e) for e in alone]
            assert together[-1].model_dump() == alone[-1].model_dump()
