"""POST /telegram/{bot_id}/webhook: verify, store durably, answer 200.

One rule for what Telegram posts. A body that cannot be an update (not JSON, deeper than
any update nests, no update_id the log can key, larger than CHIME_INGEST_MAX_BODY_BYTES)
gets a 4xx and is kept in `rejected_bodies`: Telegram never sends one, so the 4xx cannot
stall a bot's stream. Everything else is answered 200 and recorded once per
(bot, update_id): accepted, or rejected with the reason when its content is not what
Chime can act on. A 503 (database unreachable) is retried by Telegram.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from chime_ingest import handlers
from chime_ingest.adapters.postgres import UpdateLog
from chime_ingest.domain.bots import secret_matches
from chime_ingest.domain.updates import NotAnUpdate, parse_update
from chime_ingest.metrics import UPDATES
from chime_kit.http import problem_response, unavailable
from chime_kit.runtime import Runtime
from chime_kit.telemetry import mark_service

tracer = trace.get_tracer("chime.ingest")
router = APIRouter()


@router.post("/telegram/{bot_id}/webhook", include_in_schema=False)
async def telegram_webhook(
    bot_id: int,
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> Response:
    ingest = request.app.state.service
    if ingest is None:
        return unavailable("ingest is starting or stopping", request.url.path)
    expected = ingest.webhook_secrets.get(bot_id)
    if expected is None:
        return problem_response(404, "Unknown bot", f"no bot {bot_id} is served here")
    if not secret_matches(expected, secret):
        return problem_response(401, "Bad secret token", "X-Telegram-Bot-Api-Secret-Token is wrong")
    raw = await request.body()
    with tracer.start_as_current_span("telegram webhook", kind=SpanKind.SERVER) as span:
        mark_service(span, "ingest")
        span.set_attribute("chime.bot_id", bot_id)
        try:
            body = parse_update(raw)
        except NotAnUpdate as exc:
            await reject_body(ingest.runtime, bot_id, str(exc), raw.decode(errors="replace"))
            return problem_response(400, "Not a Telegram update", str(exc))
        async with ingest.runtime.unit_of_work() as uow:
            outcome = await handlers.accept_update(uow, bot_id, body)
        UPDATES.labels("ingest", str(bot_id), outcome).inc()
    return Response(b'{"ok":true}', media_type="application/json")


async def reject_body(runtime: Runtime, bot_id: int, reason: str, body: str) -> None:
    """Keep what is not an update for inspection (text cannot hold NUL: replaced)."""
    async with runtime.unit_of_work() as uow:
        await UpdateLog(uow.conn).reject_body(bot_id, reason, body.replace("\x00", "\ufffd"))
    UPDATES.labels("ingest", str(bot_id), "not_an_update").inc()
