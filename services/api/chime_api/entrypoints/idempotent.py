"""Every POST goes through `respond_once`: the Idempotency-Key header, its replay and its
conflicts, around a handler's effect."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from chime_api.bootstrap import Dependencies
from chime_api.domain.idempotency import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    IdempotencyInFlightError,
    fingerprint,
)
from chime_api.domain.keys import ApiKey
from chime_api.domain.problems import ProblemError, idempotency_in_flight, idempotency_key_reused
from chime_api.handlers.idempotency import Effect, Idempotency, KeyReused, Replayed, once

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="retries with the same key and body replay the first response (kept 24 h);"
        " the same key with another body is refused; printable ASCII",
        pattern=KEY_PATTERN,
        max_length=MAX_KEY_LENGTH,
        examples=["3f2c8a7e-6d0b-4c1e-9f55-0e1b2a3c4d5e"],
    ),
]


async def respond_once(
    service: Dependencies,
    key: ApiKey,
    idempotency_key: str | None,
    path: str,
    body: Any,
    effect: Effect,
    reveal: dict[str, Any] | None = None,
) -> JSONResponse:
    """`reveal` is filled by the effect with what the first response shows and the stored
    one must not hold (a new key's plaintext): a replay answers without it."""
    idempotency = None
    if idempotency_key is not None:
        idempotency = Idempotency(idempotency_key, fingerprint("POST", path, body))
    try:
        async with service.unit_of_work() as uow:
            outcome = await once(uow, key.id, idempotency, service.idempotency, effect)
    except IdempotencyInFlightError as exc:
        raise ProblemError(idempotency_in_flight()) from exc
    if isinstance(outcome, KeyReused):
        raise ProblemError(idempotency_key_reused())
    stored = outcome.response
    headers = dict(stored.headers)
    body_out = stored.body
    if isinstance(outcome, Replayed):
        headers["Idempotent-Replayed"] = "true"
    elif reveal:
        body_out = {**stored.body, **reveal}
    return JSONResponse(body_out, status_code=stored.status, headers=headers)
