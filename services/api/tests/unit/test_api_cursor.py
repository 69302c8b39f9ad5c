"""Pagination cursors are opaque, exact and refuse what they did not make."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chime_api.domain.cursor import InvalidCursorError, decode_cursor, encode_cursor

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 3, 30, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_cursors_round_trip_to_the_microsecond(at):
    cursor = encode_cursor(at, "ntf_01J")
    assert decode_cursor(cursor) == (at, "ntf_01J")
    assert "=" not in cursor


def test_cursors_are_url_safe():
    cursor = encode_cursor(datetime.now(UTC), "ntf_" + "?" * 30)
    assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize("cursor", ["", "!!!", "bm9wZQ", "MTIzfA", "eHx5", "/w", "YWJjfGQ"])
def test_foreign_cursors_are_refused(cursor):
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)
