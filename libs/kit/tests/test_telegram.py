"""The kit's Bot API client: Telegram's answers and transport failures as one `Answer`."""

import asyncio

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
