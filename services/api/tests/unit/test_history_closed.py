"""The kept rows of closed buckets: used only while the table holds the same versions of
them, the open buckets read every time, small series and old entries not kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chime_api.history.adapters.closed import ClosedRollups, split
from chime_api.history.domain.buckets import Granularity
from chime_api.history.domain.series import Bucket

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
VERSIONS = "array_agg(xmin::text::bigint ORDER BY bucket)"
START = NOW.replace(minute=0) - 5 * HOUR  # 07:00; 12:00 is the open hour


class Table:
    """One scope's rollup rows as `select` reads them: bucket -> (version, received)."""

    def __init__(self) -> None:
        self.rows: dict[datetime, tuple[int, int]] = {}
        self.version = 100
        self.statements: list[str] = []

    def write(self, at: datetime, received: int) -> None:
        self.version += 1
        self.rows[at] = (self.version, received)

    async def select(self, conn: Any, columns: str, since: datetime, until: datetime) -> Any:
        self.statements.append(columns)
        rows = sorted((b, v, n) for b, (v, n) in self.rows.items() if since <= b < until)
        if columns.startswith("array_agg"):
            return [([v for _, v, _ in rows] or None,)]
        if "xmin" in columns:
            return [(b, v, *Bucket(received=n)) for b, v, n in rows]
        return [(b, *Bucket(received=n)) for b, _, n in rows]


def read(kept: ClosedRollups, table: Table, scope_id: str = "") -> Any:
    cut = split(START, NOW, NOW, Granularity.HOUR)
    return kept.read(None, table.select, ("global", scope_id, "hour"), START, NOW, cut)


def received(rows: dict[datetime, Bucket]) -> dict[int, int]:
    return {at.hour: b.received for at, b in sorted(rows.items())}


def test_split_cuts_at_the_start_of_nows_bucket_within_the_range() -> None:
    assert split(START, NOW, NOW, Granularity.HOUR) == NOW.replace(minute=0)
    assert split(START, NOW, NOW, Granularity.DAY) == START  # today's day is open: nothing closed
    assert split(START, START + HOUR, NOW, Granularity.HOUR) == START + HOUR  # all closed
    later = NOW + 3 * HOUR
    assert split(later, later + HOUR, NOW, Granularity.HOUR) == later  # all open


@pytest.fixture
def table() -> Table:
    table = Table()
    for h in (0, 1, 3, 4, 5):  # 07:00 .. 12:00, nothing at 09:00, the last one open
        table.write(START + h * HOUR, h + 1)
    return table


async def test_a_second_read_asks_for_versions_and_the_open_rows_only(table: Table) -> None:
    kept = ClosedRollups(min_rows=2)
    first = await read(kept, table)
    table.write(NOW.replace(minute=0), 60)  # the open hour goes on counting
    second = await read(kept, table)
    assert received(first) == {7: 1, 8: 2, 10: 4, 11: 5, 12: 6}
    assert received(second) == {7: 1, 8: 2, 10: 4, 11: 5, 12: 60}
    assert [s if s == VERSIONS else s.split(",")[0] for s in table.statements] == [
        "bucket",  # everything, with versions
        VERSIONS,  # the closed rows' versions
        "bucket",  # the open rows
    ]
    assert "xmin" in table.statements[0]
    assert "xmin" not in table.statements[2]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda t: t.write(START + HOUR, 20), id="a late event in a closed hour"),
        pytest.param(lambda t: t.write(START + 2 * HOUR, 9), id="a new row in a closed hour"),
        pytest.param(lambda t: t.rows.pop(START), id="a row gone (forgotten, dropped)"),
    ],
)
async def test_a_changed_closed_row_is_read_again(table: Table, change: Any) -> None:
    kept = ClosedRollups(min_rows=2)
    await read(kept, table)
    change(table)
    again = await read(kept, table)
    full = table.statements[0]
    assert table.statements[1:] == [VERSIONS, full]  # a miss: everything read again
    fresh = await read(ClosedRollups(min_rows=2), table)
    assert again == fresh
    third = await read(kept, table)  # and kept again
    assert third == fresh
    assert table.statements[-2] == VERSIONS


async def test_a_rebuilt_table_is_read_again_even_with_as_many_rows(table: Table) -> None:
    kept = ClosedRollups(min_rows=2)
    await read(kept, table)
    for at, (_, n) in list(table.rows.items()):  # truncated and replayed: the same counts
        table.write(at, n)
    await read(kept, table)
    assert table.statements[1:] == [VERSIONS, table.statements[0]]


async def test_small_series_are_not_kept(table: Table) -> None:
    kept = ClosedRollups(min_rows=5)  # four closed rows
    await read(kept, table)
    await read(kept, table)
    assert len(kept) == 0
    assert table.statements == [table.statements[0]] * 2


async def test_the_least_recently_read_series_go_first(table: Table) -> None:
    kept = ClosedRollups(size=2, min_rows=2)
    await read(kept, table, "a")
    await read(kept, table, "b")
    await read(kept, table, "a")  # a is now the most recent
    await read(kept, table, "c")  # b goes
    assert len(kept) == 2
    table.statements.clear()
    await read(kept, table, "a")
    await read(kept, table, "b")
    assert table.statements[0] == VERSIONS  # a was kept
    assert table.statements[2] != VERSIONS  # b was not: read again, with versions
    assert "xmin" in table.statements[2]
