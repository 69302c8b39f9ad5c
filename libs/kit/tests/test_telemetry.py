import logging

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chime_kit.bots import bot_id_of
from chime_kit.settings import ServiceSettings
from chime_kit.span_export import read_span_file
from chime_kit.telemetry import (
    JsonFormatter,
    WithinWork,
    context_from,
    context_from_traceparent,
    continuing,
    current_traceparent,
    linked_span,
    redact,
    resource_of,
    tracer_provider,
)

pytestmark = pytest.mark.unit

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def test_bot_tokens_are_scrubbed_from_text():
    url = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage"
    assert TOKEN not in redact(url)
    assert redact(url) == "POST https://api.telegram.org/bot<bot-token>/sendMessage"
    assert redact("chat 123456:789 at 10:30") == "chat 123456:789 at 10:30"


@pytest.mark.parametrize("secret_length", [20, 25, 29, 35, 46])
def test_every_token_the_settings_accept_is_scrubbed(secret_length):
    token = f"4242:{'a1_-' * 12}"[: 5 + secret_length]
    assert bot_id_of(token) == 4242
    assert redact(f"GET /bot{token}/getMe") == "GET /bot<bot-token>/getMe"


def test_json_log_lines_carry_trace_ids_and_no_token():
    formatter = JsonFormatter("sender")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("x") as span:
        record = logging.LogRecord(
            "httpx", logging.INFO, "f", 1, "GET /bot%s/getMe", (TOKEN,), None
        )
        line = orjson.loads(formatter.format(record))
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert line["service"] == "sender"
    assert TOKEN not in line["msg"]


def test_traceparent_round_trips_into_a_context():
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ctx = context_from_traceparent(parent)
    span_context = trace.get_current_span(ctx).get_span_context()
    assert f"{span_context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"


def test_spans_are_exported_over_otlp_http_when_an_endpoint_is_set():
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = ServiceSettings(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_port}/"
        )
        provider = tracer_provider("sender", settings)
        with provider.get_tracer("test").start_as_current_span(f"GET /bot{TOKEN}/getMe"):
            pass
        assert provider.force_flush(5000)
        provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    [(path, body)] = received
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "chime-sender"
    assert service["service.namespace"] == "chime"
    assert service["service.version"] == "0.1.0"
    # Redacted before it left the process.
    assert resource_spans.scope_spans[0].spans[0].name == "GET /bot<bot-token>/getMe"


API_KEY = "chime_01jd8x2m3n4p5q6r7s8t9v0w1x_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA"


def test_api_keys_are_scrubbed_from_text():
    assert redact(f"Authorization: Bearer {API_KEY}") == "Authorization: Bearer <api-key>"


def test_a_file_of_json_lines_holds_redacted_spans_with_parents_and_links(tmp_path):
    path = tmp_path / "traces" / "sender.jsonl"
    provider = tracer_provider("sender", ServiceSettings(traces_file=path))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        with tracer.start_as_current_span("query", attributes={"url.full": f"/bot{TOKEN}/x"}):
            pass
        traceparent = f"00-{request.get_span_context().trace_id:032x}-"
        traceparent += f"{request.get_span_context().span_id:016x}-01"
    with linked_span(tracer, "fire", traceparent, **{"chime.key": API_KEY}):
        pass
    provider.shutdown()
    spans = {s["name"]: s for s in read_span_file(path)}
    assert set(spans) == {"request", "query", "fire"}
    assert spans["query"]["parent_span_id"] == spans["request"]["span_id"]
    assert spans["query"]["attributes"]["url.full"] == "/bot<bot-token>/x"
    assert spans["fire"]["parent_span_id"] is None
    assert spans["fire"]["trace_id"] != spans["request"]["trace_id"]
    assert spans["fire"]["links"] == [
        {"trace_id": spans["request"]["trace_id"], "span_id": spans["request"]["span_id"]}
    ]
    assert spans["fire"]["attributes"]["chime.key"] == "<api-key>"
    assert all(s["service"] == "chime-sender" for s in spans.values())
    assert TOKEN not in path.read_text()
    assert API_KEY not in path.read_text()


REQUEST = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UPDATE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_linked_span_links_its_request_and_its_last_change_once_each(spans):
    tracer = trace.get_tracer("test")
    with (
        linked_span(tracer, "fire", REQUEST, UPDATE),
        linked_span(tracer, "again", REQUEST, REQUEST),
    ):
        pass
    with linked_span(tracer, "unlinked", None, "not a traceparent"):
        pass
    found = {s.name: s for s in spans.get_finished_spans()}
    assert [(link.context.span_id, link.attributes) for link in found["fire"].links] == [
        (0xB7AD6B7169203331, {"chime.link": "requested by"}),
        (0x00F067AA0BA902B7, {"chime.link": "changed by"}),
    ]
    assert [link.context.span_id for link in found["again"].links] == [0xB7AD6B7169203331]
    assert found["again"].parent is None  # a trace of its own, even within another span
    assert found["unlinked"].links == ()


def test_events_wrapped_while_continuing_a_traceparent_carry_it():
    with continuing(UPDATE):
        assert current_traceparent()[0] == UPDATE
    assert current_traceparent()[0] is None
    with continuing(None):
        assert current_traceparent()[0] is None


def test_client_spans_outside_any_work_are_not_sampled():
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision

    sampler = WithinWork(ALWAYS_ON)
    assert sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT).decision is Decision.DROP
    assert sampler.should_sample(None, 1, "fire", SpanKind.INTERNAL).decision.is_sampled()
    parent = context_from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert sampler.should_sample(parent, 1, "SELECT", SpanKind.CLIENT).decision.is_sampled()


def test_the_standard_variables_name_the_service_and_add_attributes(monkeypatch):
    assert resource_of("api").attributes["service.name"] == "chime-api"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "chime-api-canary")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    attributes = resource_of("api").attributes
    assert attributes["service.name"] == "chime-api-canary"
    assert attributes["deployment.environment"] == "prod"
    assert attributes["service.namespace"] == "chime"


def test_with_nothing_to_export_no_span_is_recorded_but_trace_ids_still_flow():
    provider = tracer_provider("api", ServiceSettings())
    with provider.get_tracer("test").start_as_current_span("request") as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
        traceparent = current_traceparent()[0]
    assert traceparent is not None
    assert int(traceparent.rsplit("-", 1)[1], 16) & 1 == 0  # not sampled


# -- the trace context read and written without the propagator, held to it ------------------

_PROPAGATOR = TraceContextTextMapPropagator()
_HEX = "0123456789abcdef"
_TRACE_IDS = st.text(_HEX, min_size=32, max_size=32)
_SPAN_IDS = st.text(_HEX, min_size=16, max_size=16)
_FLAGS = st.sampled_from(["00", "01", "02", "ff"])
_STATES = st.none() | st.sampled_from(["vendor=abc", "a=1,b=2", "bad state"])


def _injected() -> tuple[str | None, str | None]:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


@given(trace_id=_TRACE_IDS, span_id=_SPAN_IDS, flags=_FLAGS, state=_STATES)
def test_current_traceparent_is_what_the_propagator_injects(trace_id, span_id, flags, state):
    headers = {"traceparent": f"00-{trace_id}-{span_id}-{flags}"}
    if state is not None:
        headers["tracestate"] = state
    token = otel_context.attach(_PROPAGATOR.extract(headers))
    try:
        assert current_traceparent() == _injected()
    finally:
        otel_context.detach(token)
    assert current_traceparent() == _injected() == (None, None)


_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "traceparent": st.builds(
            lambda v, t, s, f, rest: f"{v}-{t}-{s}-{f}{rest}",
            st.sampled_from(["00", "01", "ff", "0x"]),
            _TRACE_IDS | st.just("0" * 32) | st.just("A" * 32),
            _SPAN_IDS | st.just("0" * 16),
            _FLAGS,
            st.sampled_from(["", "-more", "x"]),
        )
        | st.text(max_size=60),
        "tracestate": st.sampled_from(["vendor=abc", "a=1,b=2", "bad state"]),
        "x-delivery-count": st.integers(0, 9),
    },
)


@given(headers=st.none() | _HEADERS)
def test_context_from_is_what_the_propagator_extracts(headers):
    carrier = {k: str(v) for k, v in (headers or {}).items() if k in ("traceparent", "tracestate")}
    expected = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
    made = trace.get_current_span(context_from(headers)).get_span_context()
    assert made == expected
    assert made.is_remote == expected.is_remote
    assert made.trace_state == expected.trace_state
