import logging

import orjson
import pytest
from opentelemetry import trace

from chime_kit.bots import bot_id_of
from chime_kit.telemetry import JsonFormatter, context_from_traceparent, redact

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

    from chime_kit.telemetry import tracer_provider

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
        provider = tracer_provider("sender", f"http://127.0.0.1:{server.server_port}/")
        with provider.get_tracer("test").start_as_current_span("telegram sendMessage"):
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
    assert resource_spans.scope_spans[0].spans[0].name == "telegram sendMessage"
