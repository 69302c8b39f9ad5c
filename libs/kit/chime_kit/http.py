"""The edges both HTTP services (ingest, api) share: request spans and metrics, 503 while a
dependency is unreachable, methods a path allows, problem+json.

FastAPI (>= 0.165) opens the server span of each request itself, continuing the caller's
`traceparent`; with its operation spans off, that span is current in the endpoint, so it is
the parent of every event the request emits. `RequestObserver` marks it with the service's
name and counts the request in Prometheus, where the rest of Chime's metrics are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from prometheus_client import Histogram
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chime_kit.telemetry import mark_service

# Re-exported: the edges of other entrypoints (polling) import it from here.
from chime_kit.unreachable import dependency_unavailable

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# A PostgreSQL restart takes about 3 s; clients that honour the header come back after it.
RETRY_AFTER_SECONDS = 2

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

REQUEST_SECONDS = Histogram(
    "chime_http_request_seconds",
    "HTTP requests served, by route template and status",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_OPS_PATHS = frozenset({"/healthz", "/readyz", "/health/details", "/metrics"})


def _is_ops(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in _OPS_PATHS


# Probes and scrapes are not traced; metrics and logs go through Prometheus and our own
# logging, not FastAPI's OpenTelemetry instruments.
TELEMETRY: TelemetryConfig = {
    "tracing": True,
    "operation_spans": False,
    "metrics": False,
    "logs": False,
    "exclude": _is_ops,
}


class RequestObserver:
    """Pure ASGI middleware, inside FastAPI's server span."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_ops(scope):
            await self.app(scope, receive, send)
            return
        mark_service(trace.get_current_span(), self.service)
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            # The template, not the path: ids would make every request its own series.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUEST_SECONDS.labels(self.service, scope["method"], route, str(status)).observe(
                time.perf_counter() - started
            )


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An RFC 9457 problem (type about:blank: the status says what it is)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    return JSONResponse(body, status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def unavailable(detail: str, instance: str | None = None) -> Response:
    return problem_response(
        503,
        "Service Unavailable",
        detail,
        instance=instance,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class _HttpOnly:
    """A pure ASGI middleware that acts on HTTP requests and passes anything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class DependencyGuard(_HttpOnly):
    """A request that fails because PostgreSQL cannot be reached answers 503 with
    Retry-After (Telegram and API clients retry it), never 500; no traceback is logged."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_and_note_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_start)
        except Exception as exc:
            if started or not dependency_unavailable(exc):
                raise
            log.warning(
                "%s %s answered 503: a dependency is unreachable (%s: %s)",
                scope["method"],
                scope["path"],
                type(exc).__name__,
                exc,
            )
            response = unavailable("the database is unreachable; retry later", scope["path"])
            await response(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")


class BodyLimit(_HttpOnly):
    """Refuse a request body above `max_bytes` with 413 as its bytes arrive: a declared
    Content-Length at once, a chunked body once the count passes it, never read whole.

    FastAPI's own `max_body_size` answers a declared length in plain text, whatever the
    app's error handlers say; this raises BodyTooLarge (an HTTPException) for them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            response = problem_response(413, "Content Too Large", error.detail)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, receive_within_limit, send)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def methods_of(scope: Scope) -> set[str]:
    """Every method the app's routes take at this request's path (asked of each route the
    way the router asks it, since included routers keep their routes to themselves)."""
    routes = scope["app"].router.routes
    return {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }


class AllowedMethods(_HttpOnly):
    """OPTIONS answers 204 with every method of the path; a 405 lists them all.

    Starlette matches one route at a time, so on its own it answers OPTIONS with 405 and
    names only the methods of the first route of the path.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            methods = methods_of(scope)
            if methods and "OPTIONS" not in methods:
                headers = {"Allow": _allow(methods)}
                await Response(status_code=204, headers=headers)(scope, receive, send)
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                allow = (b"allow", _allow(methods_of(scope)).encode())
                message = {**message, "headers": [*headers, allow]}
            await send(message)

        await self.app(scope, receive, send_with_allow)


def _allow(methods: set[str]) -> str:
    return ", ".join(sorted(methods | {"OPTIONS"}))


def install_http_edges(app: FastAPI, service: str, max_body_bytes: int) -> None:
    """The shared middleware of an HTTP service, outermost last: metrics see final statuses."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(DependencyGuard)
    app.add_middleware(AllowedMethods)
    app.add_middleware(RequestObserver, service=service)
