"""POST /telegram/{bot_id}/webhook: verify, store durably, answer 200.

One rule for what Telegram posts. A body that cannot be an update (not JSON, deeper than
any update nests, no update_id the log can key, larger than CHIME_INGEST_MAX_BODY_BYTES)
gets a 4xx and is kept in `rejected_bodies`: Telegram never sends one, so the 4xx cannot
stall a bot's stream. Everything else is answered 200 once it is committed (with the
requests that arrived meanwhile: `intake.py`), and recorded once per (bot, update_id):
accepted, or rejected with the reason when its content is not what Chime can act on. A 503
(database unreachable) is retried by Telegram.

It is the hot path, so it is plain ASGI in front of the FastAPI app (`app.py`), not a route
behind its eight layers of middleware: those cost more per request than everything the
webhook itself does (bench/ingest). It keeps what they give a request: a server span
continuing a `traceparent`, the request histogram, the body limit (413 as the bytes
arrive), 503 with Retry-After while the database is unreachable, problem+json errors.
Other methods on the path fall through to FastAPI (405 with Allow, OPTIONS).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import Receive, Scope, Send

from chime_ingest.domain.bots import secret_matches
from chime_ingest.domain.updates import NotAnUpdate
from chime_kit.http import REQUEST_SECONDS, problem_response, unavailable
from chime_kit.telemetry import context_from, mark_service
from chime_kit.unreachable import dependency_unavailable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("chime.ingest")

ROUTE = "/telegram/{bot_id}/webhook"
PREFIX, SUFFIX = "/telegram/", "/webhook"
SECRET_HEADER = b"x-telegram-bot-api-secret-token"
OK = b'{"ok":true}'
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
}
_OK_BODY = {"type": "http.response.body", "body": OK}


def bot_path(scope: Scope) -> str | None:
    """The bot id part of a POST to the webhook path; None for anything else."""
    path: str = scope["path"]
    if scope["method"] != "POST" or not path.startswith(PREFIX) or not path.endswith(SUFFIX):
        return None
    return path[len(PREFIX) : -len(SUFFIX)]


class BodyTooLarge(Exception):
    pass


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def telegram_webhook(
    service: Any, bot: str, scope: Scope, receive: Receive, send: Send, limit: int
) -> None:
    started = time.perf_counter()
    headers = dict(scope["headers"])
    # Telegram sends no traceparent; a caller that does (a test, a proxy) is continued.
    traceparent = headers.get(b"traceparent")
    context = context_from({"traceparent": traceparent.decode()}) if traceparent else None
    with tracer.start_as_current_span(f"POST {ROUTE}", context=context, kind=SpanKind.SERVER):
        status = await _answer(service, bot, headers, scope, receive, send, limit)
        span = trace.get_current_span()
        mark_service(span, "ingest")
        span.set_attribute("http.response.status_code", status)
    REQUEST_SECONDS.labels("ingest", "POST", ROUTE, str(status)).observe(
        time.perf_counter() - started
    )


async def _answer(
    service: Any,
    bot: str,
    headers: dict[bytes, bytes],
    scope: Scope,
    receive: Receive,
    send: Send,
    limit: int,
) -> int:
    path = scope["path"]
    if service is None:
        problem = unavailable("ingest is starting or stopping", path)
    elif not bot.isdigit() or (expected := service.webhook_secrets.get(int(bot))) is None:
        problem = problem_response(404, "Unknown bot", f"no bot {bot} is served here")
    elif not secret_matches(expected, headers.get(SECRET_HEADER, b"").decode() or None):
        problem = problem_response(
            401, "Bad secret token", "X-Telegram-Bot-Api-Secret-Token is wrong"
        )
    else:
        trace.get_current_span().set_attribute("chime.bot_id", int(bot))
        try:
            raw = await read_body(scope, receive, limit)
            await service.intake.receive_bytes(int(bot), raw)
        except BodyTooLarge:
            problem = problem_response(
                413, "Content Too Large", f"the body is larger than {limit} bytes"
            )
        except NotAnUpdate as exc:
            problem = problem_response(400, "Not a Telegram update", str(exc))
        except Exception as exc:
            if not dependency_unavailable(exc):
                log.exception("the webhook of bot %s failed", bot)
                problem = problem_response(500, "Internal Server Error", instance=path)
            else:
                log.warning("webhook answered 503: the database is unreachable (%r)", exc)
                problem = unavailable("the database is unreachable; retry later", path)
        else:
            await send(_OK_START)
            await send(_OK_BODY)
            return 200
    await problem(scope, receive, send)
    return problem.status_code
