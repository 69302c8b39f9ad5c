"""Opaque pagination cursors: the (created_at, id) of the last item of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidCursorError(ValueError):
    """The cursor was not made by `encode_cursor`."""


def encode_cursor(created_at: datetime, item_id: str) -> str:
    # Whole microseconds keep the position exact (PostgreSQL timestamps are microseconds).
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, sep, item_id = raw.partition("|")
        if not sep or not item_id:
            raise InvalidCursorError("malformed cursor")
        return _EPOCH + timedelta(microseconds=int(micros)), item_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidCursorError("malformed cursor") from exc
