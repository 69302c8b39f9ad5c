"""Request spans and metrics of the services that serve HTTP (ingest, api).

FastAPI (>= 0.165) opens the server span of each request itself, continuing the caller's
`traceparent`; with its operation spans off, that span is current in the endpoint, so it is
the parent of every event the request emits. This middleware marks it with the service's
name and counts the request in Prometheus, where the rest of Chime's metrics are.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chime_kit.telemetry import mark_service

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

REQUEST_SECONDS = Histogram(
    "chime_http_request_seconds",
    "HTTP requests served, by route template and status",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


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
