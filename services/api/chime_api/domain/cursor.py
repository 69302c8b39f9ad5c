"""Opaque pagination cursors: the (created_at, id) of the last item of a page."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What a cursor can look like (unpadded URL-safe base64 of "<micros>|<id>"): the query
# parameter declares exactly this, and `decode_cursor` refuses anything else.
MAX_CURSOR_LENGTH = 200
_CURSOR = re.compile(f"[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH}}}")
CURSOR_PATTERN = f"^{_CURSOR.pattern}$"


class InvalidCursorError(ValueError):
    """The cursor was not made by `encode_cursor`."""


def encode_cursor(created_at: datetime, item_id: str) -> str:
    # Whole microseconds keep the position exact (PostgreSQL timestamps are microseconds).
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    if _CURSOR.fullmatch(cursor) is None:
        raise InvalidCursorError("malformed cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        micros, sep, item_id = raw.partition("|")
        if not sep or not item_id:
            raise InvalidCursorError("malformed cursor")
        return _EPOCH + timedelta(microseconds=int(micros)), item_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidCursorError("malformed cursor") from exc
