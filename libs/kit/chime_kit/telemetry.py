"""Tracing and JSON logs that carry trace ids; bot tokens and API keys never reach either.

Spans come from OpenTelemetry's own instrumentations where one exists: FastAPI's server
span (FastAPI opens it itself, see `http.TELEMETRY`), asyncpg (every query) and httpx
(every outgoing call, the Bot API's included); the kit's consumer continues the producer's
trace from the message's `traceparent` header (written by the outbox relay), one span per
message within its batches, which aio-pika's instrumentation (a span around the delivery
callback, which only buffers) cannot give. Work fired long after its request starts a trace
linked to the request's (`linked_span`). docs/operations.md lists every span Chime opens
itself and why. Configuration is OpenTelemetry's standard variables.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult
from opentelemetry.sdk.trace.sampling import _get_from_env_or_default as sampler_from_env
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chime_kit.bots import TOKEN_PATTERN
from chime_kit.span_export import JsonLinesFile, Redacting

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import Attributes

    from chime_kit.settings import ServiceSettings

_propagator = TraceContextTextMapPropagator()

# httpx logs full URLs and the token is part of the URL, so it is scrubbed from every
# record: whatever `bots` accepts as a token is redacted here. API keys (`chime_<ulid>_
# <secret>`, services/api's domain/keys.py) likewise.
_TOKEN = re.compile(rf"(?<!\d){TOKEN_PATTERN}(?![A-Za-z0-9_-])")
_API_KEY = re.compile(r"chime_[0-9a-zA-Z]{26}_[A-Za-z0-9_-]{20,}")
INSTRUMENTATIONS = ("asyncpg", "httpx")


def redact(text: str) -> str:
    return _API_KEY.sub("<api-key>", _TOKEN.sub("<bot-token>", text))


class WithinWork(Sampler):
    """The configured sampler, except that a client span with no parent (a query of a
    polling loop, a call outside any request) is dropped: instrumented libraries would
    otherwise make a trace of every poll."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid and not links:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithinWork{{{self.inner.get_description()}}}"


def service_version(service: str) -> str:
    try:
        return metadata.version(f"chime-{service}")
    except metadata.PackageNotFoundError:
        return "unknown"


def resource_of(service: str) -> Resource:
    """`chime-<service>` unless OTEL_SERVICE_NAME names it; OTEL_RESOURCE_ATTRIBUTES add to
    (and may override) the version, namespace and instance the kit fills in."""
    detected = Resource.create({})
    defaults = Resource(
        {
            "service.name": f"chime-{service}",
            "service.namespace": "chime",
            "service.version": service_version(service),
            "service.instance.id": socket.gethostname(),
        }
    )
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        detected = Resource(
            {k: v for k, v in detected.attributes.items() if k != "service.name"},
            detected.schema_url,
        )
    return defaults.merge(detected)


def exporters_of(settings: ServiceSettings) -> list[SpanExporter]:
    chosen = {e.strip() for e in settings.otel_traces_exporter.split(",") if e.strip()}
    exporters: list[SpanExporter] = []
    endpoint = settings.otel_exporter_otlp_traces_endpoint or (
        f"{settings.otel_exporter_otlp_endpoint.rstrip('/')}/v1/traces"
        if settings.otel_exporter_otlp_endpoint
        else None
    )
    if "otlp" in chosen and endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter(endpoint=endpoint))
    if "console" in chosen:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporters.append(ConsoleSpanExporter())
    if settings.traces_file is not None:
        exporters.append(JsonLinesFile(settings.traces_file))
    return exporters


def tracer_provider(service: str, settings: ServiceSettings) -> TracerProvider:
    """Spans of `chime-<service>`, sampled as OTEL_TRACES_SAMPLER says, redacted, then
    exported to every exporter the settings name. With none, no span is recorded (trace ids
    still reach the logs and the next service)."""
    exporters = exporters_of(settings)
    sampler = WithinWork(sampler_from_env()) if exporters else ALWAYS_OFF
    provider = TracerProvider(resource=resource_of(service), sampler=sampler)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(Redacting(exporter, redact)))
    return provider


def setup_tracing(service: str, settings: ServiceSettings) -> None:
    """Install a tracer provider unless one is already installed (tests install theirs),
    then the instrumentations the settings do not disable, unless nothing is exported:
    their spans would cost CPU on every query and call for nobody."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = tracer_provider(service, settings)
        trace.set_tracer_provider(provider)
        if provider.sampler is ALWAYS_OFF:
            return
    disabled = {name.strip() for name in settings.otel_python_disabled_instrumentations.split(",")}
    instrument(*(name for name in INSTRUMENTATIONS if name not in disabled))


def flush_tracing(timeout_seconds: float = 5.0) -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(int(timeout_seconds * 1000))


def instrument(*libraries: str) -> None:
    """OpenTelemetry's instrumentation of each library, once per process."""
    if "asyncpg" in libraries:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        asyncpg_instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if not asyncpg_instrumentor.is_instrumented_by_opentelemetry:
            asyncpg_instrumentor.instrument()
    if "httpx" in libraries:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
            HTTPXClientInstrumentor().instrument(async_request_hook=_redact_url)


async def _redact_url(span: Span, request: Any) -> None:
    # The Bot API's URL holds the token: not even the span processors may see it.
    if span.is_recording():
        for key in ("url.full", "http.url"):
            span.set_attribute(key, redact(str(request.url)))


@contextmanager
def linked_span(
    tracer: Tracer,
    name: str,
    traceparent: str | None,
    changed_by: str | None = None,
    **attributes: Any,
) -> Iterator[Span]:
    """A new trace whose first span links to the span `traceparent` names (the request),
    and to `changed_by`'s (the last request that changed it), for work done long after its
    request (a reminder or a schedule's occurrence that fires hours later), where a child
    would make the request's trace hours long. Events wrapped within continue this trace."""
    with tracer.start_as_current_span(
        name, context=otel_context.Context(), attributes=attributes
    ) as span:
        # Added once sampled (no sampler of ours decides a root span by its links): a span
        # that is not recorded does not pay for parsing them, a fire's largest cost here.
        if span.is_recording():
            for why, parent in (("requested by", traceparent), ("changed by", changed_by)):
                if parent is None or (why == "changed by" and parent == traceparent):
                    continue
                linked = trace.get_current_span(context_from_traceparent(parent))
                if linked.get_span_context().is_valid:
                    span.add_link(linked.get_span_context(), {"chime.link": why})
        yield span


@contextmanager
def continuing(traceparent: str | None) -> Iterator[None]:
    """Make the span `traceparent` names current (without a span of our own), so events
    wrapped within continue its trace: work held in a table for a short while (a
    broadcast's paced slices) and resumed by a loop with no trace of its own."""
    token = otel_context.attach(context_from_traceparent(traceparent))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_traceparent() -> tuple[str | None, str | None]:
    """The W3C `traceparent` and `tracestate` of the current span, as the propagator's
    `inject` writes them, formatted here: every event wrapped pays for it, and the
    propagator's way (a carrier, a comparison of whole span contexts) cost twice as much."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    traceparent = (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{span_context.trace_flags:02x}"
    )
    state = span_context.trace_state
    return traceparent, state.to_header() if state else None


# A version-00 traceparent as our services write it (lower-case hex, nothing after); any
# other form, or one with a tracestate, is left to the propagator.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_FLAGS = [trace.TraceFlags(n) for n in range(256)]
_NO_TRACE_ID = "0" * 32
_NO_SPAN_ID = "0" * 16


def context_from(headers: Mapping[str, Any] | None) -> otel_context.Context:
    """The context the propagator's `extract` makes of a message's headers; a plain
    traceparent (every message of ours) is read here, at half the propagator's cost."""
    if not headers:
        return otel_context.Context()
    traceparent = headers.get("traceparent")
    if traceparent is not None and "tracestate" not in headers:
        match = _TRACEPARENT.fullmatch(str(traceparent))
        if match and match[1] != _NO_TRACE_ID and match[2] != _NO_SPAN_ID:
            span_context = trace.SpanContext(
                int(match[1], 16), int(match[2], 16), True, _FLAGS[int(match[3], 16)]
            )
            return trace.set_span_in_context(
                trace.NonRecordingSpan(span_context), otel_context.Context()
            )
    carrier = {k: str(v) for k, v in headers.items() if k in ("traceparent", "tracestate")}
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
