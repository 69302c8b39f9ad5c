"""JSON out: orjson for speed, the standard library for what orjson refuses."""

import json
from typing import Any

import orjson


def dump_json(payload: Any) -> bytes:
    try:
        return orjson.dumps(payload)
    except TypeError:  # integers beyond 64 bits, which a raw injected update may hold
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
