"""The kit's Bot API client: Telegram's answers and transport failures as one `Answer`."""

import asyncio

import orjson
import pytest
from pydantic import SecretStr

from chime_kit.telegram import Answer, BotApi, TelegramError, answer_of
from chime_kit.testing import free_port, serving

pytestmark = pytest.mark.unit


def test_a_success_keeps_the_result_and_its_message_id() -> None:
    answer = answer_of(200, b'{"ok":true,"result":{"message_id":7,"chat":{"id":1}}}')
    assert answer.ok
    assert answer.message_id == 7
    assert answer.result["chat"] == {"id": 1}
    assert answer_of(200, b'{"ok":true,"result":true}').message_id is None


def test_an_error_keeps_code_description_and_parameters() -> None:
    answer = answer_of(
        429,
        b'{"ok":false,"error_code":429,"description":"Too Many","parameters":{"retry_after":3}}',
    )
    assert (answer.error_code, answer.description, answer.retry_after) == (429, "Too Many", 3.0)
    migrated = answer_of(
        400,
        b'{"ok":false,"error_code":400,"description":"upgraded",'
        b'"parameters":{"migrate_to_chat_id":-1001}}',
    )
    assert migrated.migrate_to_chat_id == -1001
    assert not migrated.maybe_delivered


def test_a_body_that_is_not_bot_api_json_keeps_the_status() -> None:
    assert answer_of(502, b"<html>bad gateway</html>") == Answer(
        ok=False, error_code=502, description="answer was not Bot API JSON"
    )


async def slow_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await asyncio.sleep(1.0)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"ok":true,"result":{}}'})


async def test_transport_failures_say_whether_the_request_may_have_arrived() -> None:
    refused = BotApi(f"http://127.0.0.1:{free_port()}", connect_timeout=1.0, timeout=1.0)
    answer = await refused.call(SecretStr("1:x"), "sendMessage", {})
    assert answer.transport_error == "connection"
    assert not answer.maybe_delivered
    await refused.aclose()
    async with serving(slow_app, lifespan="off") as base:
        api = BotApi(base, timeout=0.2)
        late = await api.call("1:x", "sendMessage", {})
        assert late.transport_error == "timeout"
        assert late.maybe_delivered
        with pytest.raises(TelegramError) as raised:
            await api.result("1:x", "getMe", {})
        assert raised.value.answer.transport_error == "timeout"
        assert await api.result("1:x", "getMe", {}, read_timeout=3.0) == {}
        await api.aclose()


async def echo_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Answers 429 with the posted JSON as its description, as Telegram words a flood wait."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    kind = dict(scope["headers"]).get(b"content-type", b"").decode()
    answer = orjson.dumps({
        "ok": False, "error_code": 429, "description": f"{kind} {body.decode()}",
        "parameters": {"retry_after": 3},
    })  # fmt: skip
    await send({"type": "http.response.start", "status": 429, "headers": []})
    await send({"type": "http.response.body", "body": answer})


async def test_a_call_posts_json_and_keeps_telegrams_answer() -> None:
    async with serving(echo_app, lifespan="off") as base:
        api = BotApi(base)
        answer = await api.call(SecretStr("1:x"), "sendMessage", {"chat_id": 5, "text": "é"})
        await api.aclose()
    assert (answer.ok, answer.error_code, answer.retry_after) == (False, 429, 3.0)
    kind, body = (answer.description or "").split(" ", 1)
    assert kind == "application/json"
    assert orjson.loads(body) == {"chat_id": 5, "text": "é"}


async def test_a_server_that_hangs_up_after_the_request_leaves_the_outcome_unknown() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request arrived: Telegram may act on it
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    api = BotApi(f"http://127.0.0.1:{port}", timeout=2.0)
    answer = await api.call("1:x", "sendMessage", {"chat_id": 1})
    await api.aclose()
    server.close()
    await server.wait_closed()
    assert answer.transport_error == "no_answer"
    assert answer.maybe_delivered


async def test_a_call_that_waits_too_long_for_a_connection_never_left() -> None:
    async with serving(slow_app, lifespan="off") as base:
        api = BotApi(base, timeout=0.3, max_connections=1)
        busy = asyncio.create_task(api.call("1:x", "getMe", {}, read_timeout=3.0))
        await asyncio.sleep(0.1)  # the one connection is taken by the slow call
        waited = await api.call("1:x", "sendMessage", {})
        assert waited.transport_error == "connection"
        assert not waited.maybe_delivered
        assert (await busy).ok
        await api.aclose()


async def test_calls_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP(S)_PROXY is honoured (a deployment behind an egress proxy): the request reaches
    the proxy, absolute-form, and the proxy's answer is Telegram's."""
    lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.append(await reader.readline())
        while (await reader.readline()).strip():
            pass  # the headers
        body = b'{"ok":true,"result":{"message_id":9}}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(proxy, "127.0.0.1", port)
    async with server:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        api = BotApi("http://telegram.invalid")
        try:
            answer = await api.call("1:secret", "sendMessage", {"chat_id": 1, "text": "hi"})
        finally:
            await api.aclose()
    assert answer.message_id == 9
    assert lines == [b"POST http://telegram.invalid/bot1:secret/sendMessage HTTP/1.1\r\n"]
