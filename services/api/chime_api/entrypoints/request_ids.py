"""Every request has an id: the caller's `X-Request-Id` when it is sane, else a new one.
It is echoed in the response header and put in every problem body, so a caller's support
ticket names the exact request. Headers a dependency wants on the response whatever the
route returns (RateLimit) travel the same way."""

from __future__ import annotations

import re
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

HEADER = "X-Request-Id"
# A dict per request, filled by dependencies (FastAPI may hand them a copy of the scope).
_RESPONSE_HEADERS: ContextVar[dict[str, str]] = ContextVar("response_headers")
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"")
        request_id = given.decode() if _SANE.fullmatch(given) else f"req_{ULID()}"
        scope.setdefault("state", {})["request_id"] = request_id

        extra_headers: dict[str, str] = {}
        token = _RESPONSE_HEADERS.set(extra_headers)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                present = {name.lower() for name, _ in headers}
                for name, value in extra_headers.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _RESPONSE_HEADERS.reset(token)


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


def add_response_headers(headers: dict[str, str]) -> None:
    """Put these headers on the current request's response, whatever the route returns."""
    current = _RESPONSE_HEADERS.get(None)
    if current is not None:
        current.update(headers)
