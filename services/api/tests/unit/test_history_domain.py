"""History's pure maths: buckets, local days across DST, the latency histogram, rollup
deltas and their negation, zero-filled series, filled templates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chime_api.history.adapters.partitions import window_at
from chime_api.history.domain import latency
from chime_api.history.domain.buckets import (
    Granularity,
    buckets,
    floor,
    local_day_start,
    local_days,
    whole_hour_offsets,
)
from chime_api.history.domain.facts import Blocked, Outcome, Received, TextJoined, filled
from chime_api.history.domain.rollups import deltas_of
from chime_api.history.domain.series import Bucket, local_daily, summed, zero_filled

pytestmark = pytest.mark.unit
T = datetime(2026, 3, 29, 13, 45, 12, 5, tzinfo=UTC)
KYIV = ZoneInfo("Europe/Kyiv")


def test_floors() -> None:
    assert floor(T, Granularity.HOUR) == datetime(2026, 3, 29, 13, tzinfo=UTC)
    assert floor(T, Granularity.DAY) == datetime(2026, 3, 29, tzinfo=UTC)
    other_zone = T.astimezone(KYIV)
    assert floor(other_zone, Granularity.DAY) == datetime(2026, 3, 29, tzinfo=UTC)


def test_buckets_cover_the_range_including_a_partial_first() -> None:
    got = list(buckets(T, T + timedelta(hours=2), Granularity.HOUR))
    assert got == [datetime(2026, 3, 29, h, tzinfo=UTC) for h in (13, 14, 15)]
    assert list(buckets(T, T, Granularity.DAY)) == []


def test_local_days_are_23_and_25_hours_on_dst_changes() -> None:
    spring = local_day_start(date(2026, 3, 29), KYIV)
    next_day = local_day_start(date(2026, 3, 30), KYIV)
    assert spring == datetime(2026, 3, 28, 22, tzinfo=UTC)
    assert next_day - spring == timedelta(hours=23)
    autumn = local_day_start(date(2026, 10, 25), KYIV)
    assert local_day_start(date(2026, 10, 26), KYIV) - autumn == timedelta(hours=25)


def test_a_day_that_starts_in_a_gap_starts_at_its_first_local_time() -> None:
    # Santiago skips midnight on its spring change: the day starts at 01:00 local.
    santiago = ZoneInfo("America/Santiago")
    start = local_day_start(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).hour == 1


def test_local_days_of_a_range() -> None:
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)
    days = local_days(start, start + timedelta(days=2), KYIV)
    assert [d.astimezone(KYIV).date() for d in days] == [
        date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31),
    ]  # fmt: skip


def test_whole_hour_zones() -> None:
    assert whole_hour_offsets(KYIV, T, T + timedelta(days=40))
    assert not whole_hour_offsets(ZoneInfo("Asia/Kolkata"), T, T + timedelta(days=1))


def test_local_daily_sums_the_hours_of_each_local_day() -> None:
    hours = {datetime(2026, 3, 28, 21, tzinfo=UTC) + timedelta(hours=h): Bucket(received=1)
             for h in range(26)}  # fmt: skip
    points = local_daily(hours, datetime(2026, 3, 28, 22, tzinfo=UTC),
                         datetime(2026, 3, 30, 0, tzinfo=UTC), KYIV)  # fmt: skip
    assert [(p.at, p.counts.received) for p in points] == [
        (datetime(2026, 3, 28, 22, tzinfo=UTC), 23), (datetime(2026, 3, 29, 21, tzinfo=UTC), 2),
    ]  # fmt: skip
    assert points[0].counts.active_users is None


def test_latency_buckets_and_percentiles() -> None:
    assert latency.bucket_of(0) == 0
    assert latency.bucket_of(50) == 0
    assert latency.bucket_of(51) == 1
    assert latency.bucket_of(10**9) == len(latency.BOUNDS_MS)
    histogram = latency.empty()
    for ms in [10] * 50 + [300] * 45 + [4000] * 5:
        histogram[latency.bucket_of(ms)] += 1
    assert latency.percentile(histogram, 0.5) == 50
    assert latency.percentile(histogram, 0.95) == 500
    assert latency.percentile(histogram, 0.96) == 5000
    assert latency.percentile(latency.empty(), 0.5) is None
    assert latency.merge([histogram, histogram])[0] == 100
    with pytest.raises(ValueError, match="fraction"):
        latency.percentile(histogram, 0)
    assert latency.percentiles(histogram, (0.5, 0.95, 0.96, 1)) == [50, 500, 5000, 5000]
    assert latency.percentiles(latency.empty(), (0.5, 0.95)) == [None, None]
    above = latency.empty()
    above[-1] = 3
    assert latency.percentiles(above, (0.5, 1)) == [3_600_000, 3_600_000]
    with pytest.raises(ValueError, match="fraction"):
        latency.percentiles(histogram, (0.5, 1.5))


def received(chat: int, user: int | None, kind: str = "text") -> Received:
    return Received(bot_id=7, chat_id=chat, at=T, message_id=1, user_id=user, content_type=kind)


def test_deltas_count_every_scope_and_bucket() -> None:
    facts = [
        received(1, 100), received(1, 100, "photo"), received(2, 100),
        Outcome(kind="sent", bot_id=7, chat_id=1, at=T, delivery_id="d", latency_ms=70,
                api_key_id="key_1"),
        Outcome(kind="failed", bot_id=7, chat_id=2, at=T, delivery_id="e", reason="blocked"),
        TextJoined(bot_id=7, chat_id=1, at=T, delivery_id="f", text="x", latency_ms=20),
        Blocked(bot_id=7, chat_id=2, at=T),
    ]  # fmt: skip
    deltas = deltas_of(facts)
    hour = datetime(2026, 3, 29, 13, tzinfo=UTC)
    whole = deltas.counters[("global", "", "hour", hour)]
    assert (whole.received, whole.sent, whole.failed, whole.blocked) == (3, 1, 1, 1)
    assert whole.received_by_kind == {"text": 2, "photo": 1}
    assert whole.failed_by_reason == {"blocked": 1}
    assert whole.latency[:2] == [1, 1]
    key = deltas.counters[("key", "key_1", "day", datetime(2026, 3, 29, tzinfo=UTC))]
    assert (key.sent, key.received) == (1, 0)
    chat = ("chat", "7:1", "hour", hour)
    assert deltas.members[(chat, "u100")] == 2
    assert deltas.members[(("global", "", "hour", hour), "c7:2")] == 1
    assert (chat, "c7:1") not in deltas.members
    negated = whole.negated()
    assert (negated.received, negated.received_by_kind["photo"], negated.latency[0]) == (-3, -1, -1)


def test_zero_filled_series_and_sums() -> None:
    start = datetime(2026, 3, 29, tzinfo=UTC)
    rows = {start + timedelta(hours=2): Bucket(received=5, received_by_kind={"text": 5})}
    points = zero_filled(rows, start, start + timedelta(hours=4), Granularity.HOUR)
    assert [p.counts.received for p in points] == [0, 0, 5, 0]
    assert [p.at for p in points] == [start + timedelta(hours=h) for h in range(4)]
    assert points[0].latency_p50_ms is None
    # Only rows at a bucket's start inside the range have a point; a partial last bucket
    # still has its point.
    odd = {start + timedelta(minutes=30): Bucket(received=7), start - timedelta(hours=1): Bucket(1)}
    sent = Bucket(sent=2, latency=[1, 1] + [0] * (latency.SIZE - 2))
    points = zero_filled({**odd, start + timedelta(hours=1): sent}, start,
                         start + timedelta(hours=1, minutes=1), Granularity.HOUR)  # fmt: skip
    assert [(p.counts.received, p.counts.sent) for p in points] == [(0, 0), (0, 2)]
    assert points[1].latency_p50_p95_ms() == (50, 100)
    assert zero_filled(odd, start, start, Granularity.HOUR) == []
    total = summed(
        [Bucket(received=1, received_by_kind={"a": 1}), Bucket(received_by_kind={"a": 2})]
    )
    assert (total.received, dict(total.received_by_kind)) == (1, {"a": 3})


def test_templates_are_filled_for_history() -> None:
    assert filled("Hi {name}, {missing}", {"name": "Ann"}) == "Hi Ann, {missing}"
    assert filled("no {vars", {"a": "b"}) == "no {vars"
    assert filled("plain", None) == "plain"


def test_the_window_keeps_today_and_the_retention_and_days_ahead() -> None:
    window = window_at(T, 30, 7)
    assert window.horizon == datetime(2026, 2, 27, tzinfo=UTC)
    assert window.ahead == datetime(2026, 4, 6, tzinfo=UTC)
    assert window.holds(window.horizon)
    assert not window.holds(window.horizon - timedelta(microseconds=1))
    assert not window.holds(window.ahead)


@given(
    st.lists(st.integers(0, 10**6), min_size=latency.SIZE, max_size=latency.SIZE),
    st.lists(st.floats(0.001, 1.0), min_size=1, max_size=4).map(sorted),
)
def test_percentiles_are_the_first_bucket_whose_running_count_reaches_q(
    histogram: list[int], qs: list[float]
) -> None:
    total = sum(histogram)
    expected: list[float | None] = []
    for q in qs:
        running = 0
        for i, count in enumerate(histogram):
            running += count
            if total and running >= q * total:
                expected.append(float(latency.BOUNDS_MS[min(i, len(latency.BOUNDS_MS) - 1)]))
                break
        else:
            expected.append(None)
    assert latency.percentiles(histogram, qs) == expected


@given(st.lists(st.integers(0, 10**6), min_size=latency.SIZE, max_size=latency.SIZE))
def test_p50_p95_is_percentiles_of_the_two(histogram: list[int]) -> None:
    assert list(latency.p50_p95(histogram)) == latency.percentiles(histogram, (0.5, 0.95))
