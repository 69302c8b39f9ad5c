"""Delivery latency as a fixed-bucket histogram: mergeable by adding counts, so hours add up
to days and chats to the whole, and p50/p95 are read from the merged counts."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import accumulate

# Upper bounds of the buckets, in milliseconds; the last bucket holds everything above.
BOUNDS_MS: tuple[int, ...] = (
    50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 3_600_000,
)  # fmt: skip
SIZE = len(BOUNDS_MS) + 1
# What percentile answers for each bucket: its bound, the last bound above it.
_BOUNDS = (*(float(b) for b in BOUNDS_MS), float(BOUNDS_MS[-1]))


def empty() -> list[int]:
    return [0] * SIZE


def bucket_of(milliseconds: float) -> int:
    """The index of the bucket a latency falls in (a bound belongs to its own bucket)."""
    return bisect_left(BOUNDS_MS, max(0.0, milliseconds))


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = empty()
    for histogram in histograms:
        for i, count in enumerate(histogram):
            total[i] += count
    return total


def percentile(histogram: Sequence[int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the q-quantile; None when empty.

    Above the last bound the answer is that bound: the histogram knows no more.
    """
    return percentiles(histogram, (q,))[0]


def percentiles(histogram: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    """`percentile` of each of `qs` (ascending): the first bucket whose running count reaches
    q of the total, found by bisecting the running counts (a series reads two per point,
    hundreds of points per read)."""
    if not 0 < min(qs) <= max(qs) <= 1:
        raise ValueError("q is a fraction in (0, 1]")
    running = list(accumulate(histogram))
    total = running[-1] if running else 0
    if not total:
        return [None] * len(qs)
    return [_BOUNDS[min(bisect_left(running, q * total), SIZE - 1)] for q in qs]


def p50_p95(histogram: Sequence[int]) -> tuple[float | None, float | None]:
    """`percentiles(histogram, (0.5, 0.95))` without its generality: what every point of a
    series shows (720 of them in a 30-day hourly series, where the general form was most of
    the read's Python)."""
    running = list(accumulate(histogram))
    total = running[-1] if running else 0
    if not total:
        return None, None
    last = SIZE - 1
    return (
        _BOUNDS[min(bisect_left(running, 0.5 * total), last)],
        _BOUNDS[min(bisect_left(running, 0.95 * total), last)],
    )
