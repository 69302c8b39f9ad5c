"""Cursor pagination, the same on every list: `cursor` and `limit` in, `next_cursor` out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from chime_api.domain.cursor import (
    CURSOR_PATTERN,
    MAX_CURSOR_LENGTH,
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
)
from chime_api.domain.problems import FieldError, ProblemError, validation_problem

Cursor = Annotated[
    str | None,
    Query(
        description="`next_cursor` of the previous page",
        pattern=CURSOR_PATTERN,
        max_length=MAX_CURSOR_LENGTH,
    ),
]
Limit = Annotated[int, Query(ge=1, le=100, description="items per page")]


def invalid(location: str, message: str) -> ProblemError:
    return ProblemError(validation_problem([FieldError(location, message)]))


def position(cursor: str | None) -> tuple[datetime, str] | None:
    """Where the page starts: after the item the cursor names; 422 for a forged cursor."""
    try:
        return decode_cursor(cursor) if cursor else None
    except InvalidCursorError as exc:
        raise invalid("query.cursor", "not a cursor from a previous page") from exc


def next_cursor(last: tuple[datetime, str] | None, more: bool) -> str | None:
    return encode_cursor(*last) if more and last is not None else None
