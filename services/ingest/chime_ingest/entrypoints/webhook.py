"""POST /telegram/{bot_id}/webhook: verify, store durably, answer 200."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from chime_ingest import handlers
from chime_ingest.adapters.postgres import UpdateLog
from chime_ingest.domain.bots import secret_matches
from chime_ingest.domain.updates import NotAnUpdate, update_id_of
from chime_ingest.metrics import UPDATES
from chime_kit.telemetry import mark_service

tracer = trace.get_tracer("chime.ingest")
router = APIRouter()


def _problem(status: int, title: str, detail: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


@router.post("/telegram/{bot_id}/webhook", include_in_schema=False)
async def telegram_webhook(
    bot_id: int,
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> Response:
    ingest = request.app.state.service
    expected = ingest.webhook_secrets.get(bot_id)
    if expected is None:
        return _problem(404, "Unknown bot", f"no bot {bot_id} is served here")
    if not secret_matches(expected, secret):
        return _problem(401, "Bad secret token", "X-Telegram-Bot-Api-Secret-Token is wrong")
    raw = await request.body()
    with tracer.start_as_current_span("telegram webhook", kind=SpanKind.SERVER) as span:
        mark_service(span, "ingest")
        span.set_attribute("chime.bot_id", bot_id)
        try:
            body: Any = orjson.loads(raw)
            update_id_of(body)
        except (orjson.JSONDecodeError, NotAnUpdate) as exc:
            reason = str(exc) if isinstance(exc, NotAnUpdate) else "body is not JSON"
            async with ingest.runtime.unit_of_work() as uow:
                await UpdateLog(uow.conn).reject_body(bot_id, reason, raw.decode(errors="replace"))
            UPDATES.labels("ingest", str(bot_id), "not_an_update").inc()
            return _problem(400, "Not a Telegram update", reason)
        async with ingest.runtime.unit_of_work() as uow:
            outcome = await handlers.accept_update(uow, bot_id, body)
        UPDATES.labels("ingest", str(bot_id), outcome).inc()
    return Response(b'{"ok":true}', media_type="application/json")
