"""POST /telegram/{bot_id}/webhook: verify, store durably, answer 200.

One rule for what Telegram posts. A body that cannot be an update (not JSON, deeper than
any update nests, no update_id the log can key, larger than CHIME_INGEST_MAX_BODY_BYTES)
gets a 4xx and is kept in `rejected_bodies`: Telegram never sends one, so the 4xx cannot
stall a bot's stream. Everything else is answered 200 once it is committed (with the
requests that arrived meanwhile: `intake.py`), and recorded once per (bot, update_id):
accepted, or rejected with the reason when its content is not what Chime can act on. A 503
(database unreachable) is retried by Telegram.

A plain Starlette route, not a FastAPI one: it is the hot path, and FastAPI's parameter
machinery costs more per request than everything else the route does (bench/ingest).
"""

from __future__ import annotations

from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chime_ingest.domain.bots import secret_matches
from chime_ingest.domain.updates import NotAnUpdate
from chime_kit.http import problem_response, unavailable

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)
OK = b'{"ok":true}'


async def telegram_webhook(request: Request) -> Response:
    ingest = request.app.state.service
    if ingest is None:
        return unavailable("ingest is starting or stopping", request.url.path)
    try:
        bot_id = int(request.path_params["bot_id"])
    except ValueError:
        return problem_response(404, "Unknown bot", "a bot id is a number")
    expected = ingest.webhook_secrets.get(bot_id)
    if expected is None:
        return problem_response(404, "Unknown bot", f"no bot {bot_id} is served here")
    if not secret_matches(expected, request.headers.get(SECRET_HEADER)):
        return problem_response(401, "Bad secret token", "X-Telegram-Bot-Api-Secret-Token is wrong")
    raw = await request.body()
    trace.get_current_span().set_attribute("chime.bot_id", bot_id)
    try:
        await ingest.intake.receive_bytes(bot_id, raw)
    except NotAnUpdate as exc:
        return problem_response(400, "Not a Telegram update", str(exc))
    return Response(OK, media_type="application/json")


routes = [Route("/telegram/{bot_id}/webhook", telegram_webhook, methods=["POST"])]
