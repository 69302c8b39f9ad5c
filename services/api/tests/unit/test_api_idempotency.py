"""Idempotency keys and request fingerprints."""

import pytest

from chime_api.domain.idempotency import fingerprint, valid_key

pytestmark = pytest.mark.unit


def test_the_fingerprint_ignores_key_order_and_whitespace():
    a = fingerprint(
        "POST", "/v1/notifications", {"chat_id": 1, "text": "hi", "nested": {"a": 1, "b": 2}}
    )
    b = fingerprint(
        "post", "/v1/notifications", {"text": "hi", "nested": {"b": 2, "a": 1}, "chat_id": 1}
    )
    assert a == b
    assert len(a) == 64


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/notifications", {"chat_id": 2, "text": "hi"}),
        ("POST", "/v1/notifications", {"chat_id": 1, "text": "hi!"}),
        ("POST", "/v1/schedules", {"chat_id": 1, "text": "hi"}),
        ("PUT", "/v1/notifications", {"chat_id": 1, "text": "hi"}),
        ("POST", "/v1/notifications", {"chat_id": 1, "text": "hi", "bot_id": None}),
    ],
)
def test_any_difference_changes_the_fingerprint(method, path, body):
    base = fingerprint("POST", "/v1/notifications", {"chat_id": 1, "text": "hi"})
    assert fingerprint(method, path, body) != base


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("9f1c2b7e-1111-4a5b-8c3d-000000000000", True),
        ("a", True),
        ("x" * 255, True),
        ("x" * 256, False),
        ("", False),
        ("caf\u00e9", False),
        ("line\nbreak", False),
    ],
)
def test_idempotency_keys_are_short_printable_ascii(key, ok):
    assert valid_key(key) is ok
