"""A series is written as JSON straight from its points: the same bytes the documented
model (`SeriesOut`) gives, for every shape a point takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from chime_api.history.domain import latency
from chime_api.history.domain.buckets import Granularity
from chime_api.history.domain.series import NOTHING, Bucket, Point, local_daily, zero_filled
from chime_api.history.entrypoints.schemas import PointOut, SeriesOut, series_json

START = datetime(2026, 3, 28, tzinfo=UTC)


def modelled(scope: str, bucket: str, zone: str, points: list[Point]) -> bytes:
    out = []
    for p in points:
        c = p.counts
        p50, p95 = p.latency_p50_p95_ms()
        point = PointOut(
            at=p.at, received=c.received, received_by_kind=dict(c.received_by_kind),
            sent=c.sent, failed=c.failed, failed_by_reason=dict(c.failed_by_reason),
            blocked=c.blocked, latency_p50_ms=p50, latency_p95_ms=p95,
            active_chats=c.active_chats, active_users=c.active_users,
        )  # fmt: skip
        out.append(point)
    series = SeriesOut(scope=scope, bucket=bucket, time_zone=zone, points=out)
    return series.model_dump_json().encode()


counts = st.dictionaries(st.sampled_from(["text", "photo", "blocked", "chat_not_found"]),
                         st.integers(0, 10**9), max_size=3)  # fmt: skip
buckets = st.builds(
    Bucket,
    received=st.integers(0, 10**9), received_by_kind=counts, sent=st.integers(0, 10**9),
    failed=st.integers(0, 10**9), failed_by_reason=counts, blocked=st.integers(0, 10**6),
    latency=st.lists(st.integers(0, 10**6), min_size=latency.SIZE, max_size=latency.SIZE),
    active_chats=st.none() | st.integers(0, 10**6), active_users=st.none() | st.integers(0, 10**6),
)  # fmt: skip


@given(st.dictionaries(st.integers(0, 47), buckets, max_size=20))
def test_an_hourly_series_is_the_models_json(rows: dict[int, Bucket]) -> None:
    at = {START + timedelta(hours=h): b for h, b in rows.items()}
    points = zero_filled(at, START, START + timedelta(hours=48), Granularity.HOUR)
    assert any(p.counts is NOTHING for p in points)  # empty hours are in it too
    assert series_json("chat", "hour", "UTC", points) == modelled("chat", "hour", "UTC", points)


@given(st.dictionaries(st.integers(0, 71), buckets, max_size=20))
def test_local_days_are_the_models_json(rows: dict[int, Bucket]) -> None:
    kyiv = ZoneInfo("Europe/Kyiv")  # a DST change on 2026-03-29
    at = {START + timedelta(hours=h): b for h, b in rows.items()}
    points = local_daily(at, START, START + timedelta(days=3), kyiv)
    assert series_json("global", "day", "Europe/Kyiv", points) == modelled(
        "global", "day", "Europe/Kyiv", points
    )
