"""Tracing and JSON logs that carry trace ids; bot tokens never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chime_kit.bots import TOKEN_PATTERN

_propagator = TraceContextTextMapPropagator()

# httpx logs full URLs and the token is part of the URL, so it is scrubbed from every
# record: whatever `bots` accepts as a token is redacted here.
_TOKEN = re.compile(rf"(?<!\d){TOKEN_PATTERN}(?![A-Za-z0-9_-])")


def redact(text: str) -> str:
    return _TOKEN.sub("<bot-token>", text)


def tracer_provider(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """Spans of `chime-<service>`, exported over OTLP/HTTP when an endpoint is given."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"chime-{service_name}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def setup_tracing(service_name: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider unless one is already installed (tests install theirs)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    trace.set_tracer_provider(tracer_provider(service_name, otlp_endpoint))


def current_traceparent() -> tuple[str | None, str | None]:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def context_from(headers: Mapping[str, Any] | None) -> otel_context.Context:
    carrier = {k: str(v) for k, v in (headers or {}).items() if k in ("traceparent", "tracestate")}
    return _propagator.extract(carrier)


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    return context_from({"traceparent": traceparent} if traceparent else None)


def mark_service(span: Span, service: str) -> None:
    span.set_attribute("chime.service", service)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = f"{span_context.trace_id:032x}"
            entry["span_id"] = f"{span_context.span_id:016x}"
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(service: str, level: str, as_json: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(service)
        if as_json
        else RedactingFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Request lines of the HTTP clients name the URL, which holds the bot token.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
