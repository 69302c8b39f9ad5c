"""Every error is RFC 9457 problem+json; ops endpoints and the OpenAPI document are served."""

import pytest
from api_support import READ, WRITE, auth, running

from chime_api.entrypoints.app import create_app

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def problem_of(response, status):
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "instance"} <= body.keys()
    return body


async def test_invalid_bodies_list_what_is_wrong(client, make_key):
    key = await make_key(WRITE)
    body = problem_of(
        await client.post(
            "/v1/notifications",
            json={"text": "", "parse_mode": "Markdown", "x": 1},
            headers=auth(key),
        ),
        422,
    )
    assert body["type"] == "/problems/validation-error"
    locations = {e["location"] for e in body["errors"]}
    assert locations == {"body.text", "body.parse_mode", "body.x"}
    targetless = problem_of(
        await client.post("/v1/notifications", json={"text": "x"}, headers=auth(key)), 422
    )
    assert "exactly one of chat_id, user_id, topic" in targetless["detail"]
    assert all(e["message"] for e in body["errors"])

    blank = problem_of(
        await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": "  "}, headers=auth(key)
        ),
        422,
    )
    assert "blank" in blank["errors"][0]["message"]

    broken = await client.post(
        "/v1/notifications",
        content=b"{not json",
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert problem_of(broken, 422)["errors"][0]["location"].startswith("body")


async def test_query_errors_and_foreign_cursors(client, make_key):
    key = await make_key(READ)
    too_many = problem_of(
        await client.get("/v1/notifications", params={"limit": 1000}, headers=auth(key)), 422
    )
    assert too_many["errors"][0]["location"] == "query.limit"
    cursor = problem_of(
        await client.get("/v1/notifications", params={"cursor": "garbage!"}, headers=auth(key)),
        422,
    )
    assert [e["location"] for e in cursor["errors"]] == ["query.cursor"]
    forged = problem_of(
        await client.get("/v1/notifications", params={"cursor": "Z2FyYmFnZQ"}, headers=auth(key)),
        422,
    )
    assert forged["errors"] == [
        {"location": "query.cursor", "message": "not a cursor from a previous page"}
    ]


async def test_unknown_routes_and_methods(client, make_key):
    asked = await client.get("/v1/nothing-here", headers={"X-Request-Id": "ticket-42"})
    missing = problem_of(asked, 404)
    assert missing == {
        "type": "/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "instance": "/v1/nothing-here",
        "request_id": "ticket-42",
    }
    assert asked.headers["x-request-id"] == "ticket-42"
    made_up = await client.get("/v1/nothing-here", headers={"X-Request-Id": "bad id\n"})
    assert made_up.headers["x-request-id"].startswith("req_")
    assert problem_of(made_up, 404)["request_id"] == made_up.headers["x-request-id"]
    key = await make_key(READ)
    gone = problem_of(await client.get("/v1/notifications/ntf_nope", headers=auth(key)), 404)
    assert gone["detail"] == "notification ntf_nope not found"
    wrong_method = await client.delete("/v1/notifications")
    assert problem_of(wrong_method, 405)["type"] == "/problems/method-not-allowed"
    assert wrong_method.headers["allow"]


async def test_without_a_default_bot_the_request_must_name_one(settings, make_key):
    app = create_app(settings.model_copy(update={"default_bot_id": None}))
    async with running(app) as client:
        key = await make_key(WRITE)
        body = problem_of(
            await client.post(
                "/v1/notifications", json={"chat_id": 1, "text": "x"}, headers=auth(key)
            ),
            422,
        )
        assert body["errors"][0]["location"] == "body.bot_id"
        named = await client.post(
            "/v1/notifications", json={"chat_id": 1, "text": "x", "bot_id": 3}, headers=auth(key)
        )
        assert named.status_code == 202
        assert named.json()["bot_id"] == 3


async def test_unhandled_errors_leak_nothing(settings):
    app = create_app(settings)

    async def explode() -> None:
        raise RuntimeError("secret internals at /srv/chime/db.py line 42")

    app.add_api_route("/boom", explode)
    async with running(app, raise_errors=False) as client:
        response = await client.get("/boom")
    body = problem_of(response, 500)
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert body["title"] == "Internal Server Error"


async def test_ops_endpoints_and_the_openapi_document(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": True, "rabbitmq": True, "outbox_relay": True}
    assert "chime_http_request_seconds" in (await client.get("/metrics")).text
    spec = (await client.get("/openapi.json")).json()
    assert {"/v1/notifications", "/v1/notifications/{notification_id}", "/v1/keys"} <= set(
        spec["paths"]
    )
    post = spec["paths"]["/v1/notifications"]["post"]
    assert "202" in post["responses"]
    assert {"401", "403", "409", "422"} <= post["responses"].keys()
    assert spec["components"]["securitySchemes"].keys() == {"HTTPBearer", "APIKeyHeader"}
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
