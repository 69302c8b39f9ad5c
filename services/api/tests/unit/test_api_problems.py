"""RFC 9457 problem details."""

import pytest

from chime_api.domain.problems import (
    FieldError,
    forbidden,
    http_problem,
    idempotency_in_flight,
    idempotency_key_reused,
    internal_error,
    location_of,
    not_found,
    unauthorized,
    validation_problem,
)

pytestmark = pytest.mark.unit


def test_a_plain_http_problem_has_a_stable_type_and_the_status_phrase():
    assert http_problem(418).type == "about:blank"  # no type of ours: the status says it
    problem = http_problem(405)
    assert problem.body("/v1/x") == {
        "type": "/problems/method-not-allowed",
        "title": "Method Not Allowed",
        "status": 405,
        "instance": "/v1/x",
    }
    assert http_problem(599).title == "Error"


def test_validation_problems_list_each_field():
    problem = validation_problem(
        [FieldError("body.chat_id", "Field required"), FieldError("query.limit", "too big")]
    )
    body = problem.body("/v1/notifications")
    assert body["status"] == 422
    assert body["type"].endswith("validation-error")
    assert body["errors"] == [
        {"location": "body.chat_id", "message": "Field required"},
        {"location": "query.limit", "message": "too big"},
    ]
    assert "body.chat_id: Field required" in body["detail"]


def test_401_asks_for_a_bearer_token_and_403_names_the_scope():
    assert unauthorized("no key").headers["WWW-Authenticate"].startswith("Bearer")
    denied = forbidden(["notifications:read"])
    assert denied.status == 403
    assert 'scope="notifications:read"' in denied.headers["WWW-Authenticate"]
    assert "notifications:read" in (denied.detail or "")


@pytest.mark.parametrize(
    ("problem", "status"),
    [
        (not_found("notification ntf_1"), 404),
        (idempotency_key_reused(), 422),
        (idempotency_in_flight(), 409),
        (internal_error(), 500),
    ],
)
def test_every_problem_has_type_title_status(problem, status):
    body = problem.body(None)
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert "instance" not in body


def test_the_reused_key_problem_has_the_agreed_title():
    assert idempotency_key_reused().title == "Idempotency-Key reused with a different request"


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("body", "chat_id"), "body.chat_id"),
        (("body", "items", 0, "text"), "body.items[0].text"),
        (("query", "limit"), "query.limit"),
        ((), ""),
        (("body",), "body"),
    ],
)
def test_error_locations_read_like_paths(loc, text):
    assert location_of(loc) == text
