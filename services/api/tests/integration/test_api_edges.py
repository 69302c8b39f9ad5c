"""Bad input answers 4xx, an unreachable database 503, and the OpenAPI document says exactly
what the api accepts."""

import json
import re
from urllib.parse import urlsplit

import pytest
from api_support import READ, WRITE, auth, running
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr

from chime_api.entrypoints.app import create_app
from chime_kit.faulty_link import faulty_link
from chime_kit.testing import eventually

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def problem_of(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return response.json()


def declared(schema: dict, value: str) -> bool:
    """Whether the parameter's documented schema allows `value`."""
    schema = schema["anyOf"][0] if "anyOf" in schema else schema
    return bool(re.search(schema["pattern"], value)) and len(value) <= schema["maxLength"]


def locations(response) -> set[str]:
    return {e["location"] for e in problem_of(response, 422)["errors"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"chat_id": 1, "text": "a\u0000b"}, "body.text"),
        ({"chat_id": True, "text": "x"}, "body.chat_id"),
        ({"chat_id": "1", "text": "x"}, "body.chat_id"),
        ({"chat_id": 1.0, "text": "x"}, "body.chat_id"),
        ({"chat_id": 2**52, "text": "x"}, "body.chat_id"),
        ({"chat_id": -(2**63), "text": "x"}, "body.chat_id"),
        ({"chat_id": 2**64, "text": "x"}, "body.chat_id"),
        ({"chat_id": 1, "text": "x", "bot_id": 2**63}, "body.bot_id"),
        ({"chat_id": 1, "text": "x", "bot_id": False}, "body.bot_id"),
        ({"chat_id": 1, "text": 5}, "body.text"),
    ],
)
async def test_bodies_are_strictly_typed_and_ranged(client, make_key, body, field):
    key = await make_key(WRITE)
    response = await client.post("/v1/notifications", json=body, headers=auth(key))
    assert locations(response) == {field}


@pytest.mark.parametrize(
    "message",
    [
        {"text": "a\u0000b"},
        {"text": "hi {n}", "variables": {"n": "x\u0000"}},
        {"text": "hi", "buttons": [[{"text": "b\u0000", "callback_data": "x"}]]},
    ],
)
async def test_a_nul_anywhere_in_a_broadcast_message_is_a_422(client, make_key, message):
    """PostgreSQL cannot store U+0000: refused up front, never a 500 half-way through."""
    key = await make_key("broadcast")
    body = {"topic": "news", "message": message}
    response = await client.post("/v1/broadcasts", json=body, headers=auth(key))
    assert locations(response) == {"body.message"}


async def test_an_undecodable_body_is_a_documented_400(client, make_key):
    key = await make_key(WRITE)
    response = await client.post(
        "/v1/notifications",
        content=b'{"chat_id": 1, "text": "\xff\xfe"}',
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert problem_of(response, 400)["status"] == 400
    spec = (await client.get("/openapi.json")).json()
    assert "400" in spec["paths"]["/v1/notifications"]["post"]["responses"]


async def test_options_and_405_name_every_method_of_the_path(client):
    spec = (await client.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{\w+\}", "x_1", path)
        expected = {m.upper() for m in operations} | {"OPTIONS"}
        options = await client.options(concrete)
        assert options.status_code == 204
        assert set(options.headers["allow"].split(", ")) == expected
        method = next(m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in expected)
        wrong = await client.request(method, concrete)
        assert problem_of(wrong, 405)["status"] == 405
        assert set(wrong.headers["allow"].split(", ")) == expected


async def test_the_openapi_document_is_as_strict_as_the_api(client, make_key):
    key = await make_key(WRITE, READ)
    spec = (await client.get("/openapi.json")).json()
    post = spec["paths"]["/v1/notifications"]["post"]
    [header] = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
    longest = header["schema"]["anyOf"][0]["maxLength"]

    async def create(idempotency_key: str | bytes):
        headers = {**auth(key), "Idempotency-Key": idempotency_key}
        return await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": "x"}, headers=headers
        )

    for accepted in ["k" * longest, "a b~!", "x"]:
        assert declared(header["schema"], accepted)
        assert (await create(accepted)).status_code == 202
    for refused in ["k" * (longest + 1), b"tab\there", "é".encode("latin-1")]:
        text = refused.decode("latin-1") if isinstance(refused, bytes) else refused
        assert not declared(header["schema"], text)
        assert locations(await create(refused)) == {"header.Idempotency-Key"}

    get = spec["paths"]["/v1/notifications"]["get"]
    [cursor] = [p for p in get["parameters"] if p["name"] == "cursor"]
    longest = cursor["schema"]["anyOf"][0]["maxLength"]
    await create("another")
    page = await client.get("/v1/notifications", params={"limit": 1}, headers=auth(key))
    real = page.json()["next_cursor"]
    assert declared(cursor["schema"], real)
    assert (
        await client.get("/v1/notifications", params={"cursor": real}, headers=auth(key))
    ).status_code == 200
    for refused in [real + "=", real[:5] + "!" + real[5:], "A" * (longest + 1)]:
        assert not declared(cursor["schema"], refused)
        response = await client.get(
            "/v1/notifications", params={"cursor": refused}, headers=auth(key)
        )
        assert locations(response) == {"query.cursor"}

    body = spec["components"]["schemas"]["NotificationIn"]["properties"]
    chat = body["chat_id"]["anyOf"][0]
    assert chat["type"] == "integer"
    biggest = int(chat["maximum"])  # FastAPI writes it as 4503599627370495.0
    assert (
        await client.post(
            "/v1/notifications", json={"chat_id": biggest, "text": "x"}, headers=auth(key)
        )
    ).status_code == 202
    refused = await client.post(
        "/v1/notifications", json={"chat_id": biggest + 1, "text": "x"}, headers=auth(key)
    )
    assert locations(refused) == {"body.chat_id"}


async def test_bodies_over_the_limit_get_413(client, make_key):
    key = await make_key(WRITE)
    response = await client.post(
        "/v1/notifications",
        content=b'{"chat_id": 1, "text": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert problem_of(response, 413)["status"] == 413


def assert_retry_later(response):
    assert problem_of(response, 503)["status"] == 503
    assert response.headers["retry-after"].isdigit()


async def test_while_postgresql_is_unreachable_every_route_answers_503(settings, make_key):
    key = await make_key(WRITE, READ)
    target = urlsplit(settings.database_url.get_secret_value())
    async with faulty_link(target.hostname, target.port) as link:
        dsn = settings.database_url.get_secret_value()
        through = dsn.replace(f":{target.port}/", f":{link.port}/")
        app = create_app(settings.model_copy(update={"database_url": SecretStr(through)}))
        async with running(app, raise_errors=False) as client:
            created = await client.post(
                "/v1/notifications", json={"chat_id": 1, "text": "x"}, headers=auth(key)
            )
            assert created.status_code == 202
            path = created.headers["location"]

            async def requests():
                yield await client.post(
                    "/v1/notifications", json={"chat_id": 1, "text": "y"}, headers=auth(key)
                )
                yield await client.get(path, headers=auth(key))
                yield await client.get("/v1/notifications", headers=auth(key))

            link.cut()
            async for response in requests():
                if response.status_code >= 300:  # a pooled connection may notice the cut first
                    assert_retry_later(response)
            link.down(60)
            async for response in requests():
                assert_retry_later(response)
            link.up()

            async def served_again():
                return (await client.get(path, headers=auth(key))).status_code == 200

            await eventually(served_again)
            async for response in requests():
                assert response.status_code < 300


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# Near-valid bodies, so the odd part reaches what lies behind validation.
ODD_TEXT = st.text(st.sampled_from('a \x00\ufffd\u200b\U0001f600\\"') | st.characters(), min_size=1)
NOTIFICATION_LIKE = st.fixed_dictionaries(
    {"chat_id": st.integers(-(2**53), 2**53) | JSON, "text": ODD_TEXT | JSON},
    optional={
        "bot_id": st.integers(-1, 2**53) | JSON,
        "parse_mode": st.sampled_from(["HTML", "MarkdownV2", None]) | JSON,
    },
)


@hypothesis_settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=JSON.map(json.dumps) | NOTIFICATION_LIKE.map(json.dumps) | st.binary(max_size=64),
    idempotency_key=st.none()
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
    | st.text(st.characters(max_codepoint=255), max_size=300),
)
async def test_odd_requests_never_get_a_5xx(client, make_key, body, idempotency_key):
    key = await make_key(WRITE)
    headers = {**auth(key), "Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key.encode("latin-1")
    content = body if isinstance(body, bytes) else body.encode()
    response = await client.post("/v1/notifications", content=content, headers=headers)
    assert response.status_code < 500, response.text
