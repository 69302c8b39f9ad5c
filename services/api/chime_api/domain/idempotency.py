"""Idempotency-Key: the same request under the same key has one effect and one response."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

MAX_KEY_LENGTH = 255
# Printable ASCII, space included; the header declares exactly this.
_KEY = re.compile(f"[ -~]{{1,{MAX_KEY_LENGTH}}}")
KEY_PATTERN = f"^{_KEY.pattern}$"


class IdempotencyInFlightError(Exception):
    """Another request with this key has not finished yet."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    response: StoredResponse | None  # None while the first request is still in flight


def valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of the request in canonical form: sorted keys, no insignificant whitespace."""
    canonical = orjson.dumps(
        {"method": method.upper(), "path": path, "body": body}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()
