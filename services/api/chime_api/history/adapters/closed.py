"""Rollup rows of closed buckets kept between reads, and checked against the table on each.

A 30-day hourly series of the whole reads ~720 rollup rows, and all but the current hour's
are closed: only a late or out-of-order event, forgetting a chat, retention or a rebuild
changes them. Decoding them again on every read was most of the read's cost (about 10 ms of
the reading process's CPU). Kept here per (scope, its id, granularity, range), each read
still asks PostgreSQL for the closed rows' versions (`xmin`, the transaction that wrote
each row's current version: one int per row, read from the rows' index scan), and reads the
open buckets' rows in full. The cached rows are used only when the versions are the same
list, and that is exact, not a guess: any change to a row (an update, a delete, an insert,
a dropped partition, a rebuild's truncate and replay) either removes a version or adds one
that no visible row held before (the writing transaction's, which had not committed when
the versions were read). Nothing has to invalidate the cache, in this process or in
another: writers, retention and rebuild are unchanged.

Small scopes (a chat's series, a few rows) are not kept: the versions statement would cost
more than decoding their rows again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NamedTuple

from chime_api.history.domain.buckets import Granularity, floor
from chime_api.history.domain.series import Bucket
from chime_kit.db import Connection

Key = tuple[str, str, str, datetime, datetime]  # scope, scope id, granularity, range
# Reads rows of a range of one scope's rollups with the given columns: (conn, columns,
# since, until) -> rows.
Select = Callable[[Any, str, datetime, datetime], Awaitable[Any]]


class Closed(NamedTuple):
    versions: list[int]  # the rows' xmin, by bucket
    rows: dict[datetime, Bucket]


def split(since: datetime, until: datetime, now: datetime, granularity: Granularity) -> datetime:
    """Where [since, until) is cut into closed buckets (before) and open ones (from): the
    start of `now`'s bucket, within the range."""
    return min(max(floor(now, granularity), since), until)


class ClosedRollups:
    """A bounded LRU of the closed rows of the largest series read lately."""

    def __init__(self, size: int = 64, min_rows: int = 100) -> None:
        self.size = size
        self.min_rows = min_rows
        self._kept: OrderedDict[Key, Closed] = OrderedDict()

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)

    async def read(
        self,
        conn: Connection | None,
        select: Select,
        key: tuple[str, str, str],
        since: datetime,
        until: datetime,
        cut: datetime,
    ) -> dict[datetime, Bucket]:
        """The rows of [since, until) by bucket. `select(conn, columns, since, until)` reads
        rows of a range of the key's scope with `columns` (statements are the caller's)."""
        full_key: Key = (*key, since, cut)
        kept = self._kept.get(full_key)
        if kept is not None:
            versions = await select(conn, _VERSIONS, since, cut)
            if versions[0][0] == kept.versions:
                self._kept.move_to_end(full_key)
                rows = dict(kept.rows)
                if cut < until:
                    rows.update(_buckets(await select(conn, ROWS, cut, until)))
                return rows
            del self._kept[full_key]
        fetched = await select(conn, _VERSIONED_ROWS, since, until)
        closed = sorted((r for r in fetched if r[0] < cut), key=lambda r: r[0])
        if len(closed) >= self.min_rows:
            rows = {r[0]: Bucket(*r[2:]) for r in closed}
            self._kept[full_key] = Closed([r[1] for r in closed], rows)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
            out = dict(rows)
            out.update((r[0], Bucket(*r[2:])) for r in fetched if r[0] >= cut)
            return out
        return {r[0]: Bucket(*r[2:]) for r in fetched}


def _buckets(rows: list[Any]) -> dict[datetime, Bucket]:
    return {r[0]: Bucket(*r[1:]) for r in rows}  # the columns after bucket are the fields


# What `select` reads: the rows, the rows with their versions, or only the versions.
_FIELDS = (
    "received, received_by_kind, sent, failed, failed_by_reason, blocked, latency,"
    " active_chats, active_users"
)
ROWS = f"bucket, {_FIELDS}"
_VERSIONED_ROWS = f"bucket, xmin::text::bigint, {_FIELDS}"
_VERSIONS = "array_agg(xmin::text::bigint ORDER BY bucket)"
# The api's: one per process, shared by its reads (the api's series routes and the bench).
CLOSED = ClosedRollups()
