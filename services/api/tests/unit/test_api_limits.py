"""How a bucket's state is told to the caller: RateLimit fields and Retry-After."""

import pytest

from chime_api.domain.limits import Spent

pytestmark = pytest.mark.unit


def test_a_full_bucket_tells_its_policy_and_what_is_left():
    spent = Spent(granted=True, tokens=99.0, rate=50.0, burst=100)
    assert spent.headers() == {
        "RateLimit-Policy": '"default";q=100;w=2',
        "RateLimit": '"default";r=99;t=1',
    }


def test_an_empty_bucket_says_when_a_token_is_back():
    assert Spent(granted=False, tokens=0.2, rate=0.5, burst=10).retry_after == 2
    assert Spent(granted=False, tokens=0.99, rate=100.0, burst=10).retry_after == 1
    empty = Spent(granted=False, tokens=0.0, rate=2.0, burst=10)
    assert empty.headers()["RateLimit"] == '"default";r=0;t=5'
