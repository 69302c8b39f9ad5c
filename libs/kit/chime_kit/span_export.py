"""Where finished spans go: redacted first, then OTLP, the console or a JSON-lines file.

Every exporter a service installs is wrapped in `Redacting`, so no bot token or API key
leaves the process in a span, whatever put it there: httpx's instrumentation records the
full URL (the Bot API's path holds the token) and an exception event records its message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue


def _redact_value(value: AttributeValue, redact: Callable[[str], str]) -> AttributeValue:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple | list) and value and isinstance(value[0], str):
        return tuple(redact(str(v)) for v in value)
    return value


def _redact_attributes(
    attributes: Mapping[str, AttributeValue] | None, redact: Callable[[str], str]
) -> dict[str, AttributeValue]:
    return {k: _redact_value(v, redact) for k, v in (attributes or {}).items()}


def redacted(span: ReadableSpan, redact: Callable[[str], str]) -> ReadableSpan:
    """A copy of `span` whose name, attributes, events, links and status text are redacted."""
    status = span.status
    if status.description:
        status = Status(status.status_code, redact(status.description))
    return ReadableSpan(
        name=redact(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_redact_attributes(span.attributes, redact),
        events=[
            Event(e.name, _redact_attributes(e.attributes, redact), e.timestamp)
            for e in span.events
        ],
        links=[Link(k.context, _redact_attributes(k.attributes, redact)) for k in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class Redacting(SpanExporter):
    def __init__(self, inner: SpanExporter, redact: Callable[[str], str]) -> None:
        self.inner = inner
        self.redact = redact

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redacted(s, self.redact) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One span as a flat, readable JSON object (ids in hex as traceparent writes them)."""
    start, end = span.start_time or 0, span.end_time or 0
    parent = span.parent
    return {
        "service": span.resource.attributes.get("service.name"),
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": _hex(span.context.trace_id, 32),
        "span_id": _hex(span.context.span_id, 16),
        "parent_span_id": _hex(parent.span_id, 16) if parent is not None else None,
        "links": [
            {"trace_id": _hex(k.context.trace_id, 32), "span_id": _hex(k.context.span_id, 16)}
            for k in span.links
        ],
        "start_unix_nano": start,
        "duration_ms": round((end - start) / 1e6, 3),
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
    }


class JsonLinesFile(SpanExporter):
    """Appends one JSON object per finished span to `path`: a trace to read or grep with no
    collector running (`scripts/up.sh` writes one file per service)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = b"".join(orjson.dumps(span_record(s), default=str) + b"\n" for s in spans)
        with self._lock, self.path.open("ab") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def read_span_file(path: Path) -> list[dict[str, Any]]:
    """The spans a `JsonLinesFile` wrote (for tests and tools)."""
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def print_traces(spans: Sequence[Mapping[str, Any]], out: Callable[[str], None] = print) -> None:
    """Each trace as an indented tree: service, kind, name, duration, links to other traces."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(s)

    def show(span: Mapping[str, Any], depth: int) -> None:
        links = "".join(f"  ↪ linked to {k['trace_id']}/{k['span_id']}" for k in span["links"])
        remote = (
            "  (parent not in these files)" if span["parent_span_id"] not in (*ids, None) else ""
        )
        out(
            f"{'  ' * depth}{span['service']:<16} {span['kind'].lower():<8} {span['name']}"
            f"  {span['duration_ms']:.1f} ms{links}{remote}"
        )
        for child in sorted(children.get(span["span_id"], []), key=_started):
            show(child, depth + 1)

    for root in sorted(children.get(None, []), key=_started):
        out(f"trace {root['trace_id']}")
        show(root, 1)


def _started(span: Mapping[str, Any]) -> int:
    return int(span["start_unix_nano"])


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m chime_kit.span_export [FOLDER]`: the traces in FOLDER's `*.jsonl` files."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m chime_kit.span_export")
    parser.add_argument("folder", nargs="?", default=".run/traces", type=Path)
    parser.add_argument("--trace", help="only this trace id (and the traces it links to)")
    args = parser.parse_args(argv)
    spans = [s for f in sorted(args.folder.glob("*.jsonl")) for s in read_span_file(f)]
    if args.trace:
        linked = {k["trace_id"] for s in spans if s["trace_id"] == args.trace for k in s["links"]}
        spans = [s for s in spans if s["trace_id"] in {args.trace, *linked}]
    print_traces(spans)


if __name__ == "__main__":
    main()
