"""Every request has an id: the caller's `X-Request-Id` when it is sane, else a new one.
It is echoed in the response header, put in every problem body and in the request's log
lines, so a caller's support ticket names the exact request."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

HEADER = "X-Request-Id"
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

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None
