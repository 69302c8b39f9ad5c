"""Webhook signatures as a receiver checks them, and the retry backoff."""

import random

import pytest

from chime_api.domain.webhooks import MAX_BACKOFF_SECONDS, backoff, signature, verify

pytestmark = pytest.mark.unit
BODY = b'{"id":"e1"}'


def test_a_signature_verifies_and_a_changed_body_or_secret_does_not():
    header = signature("whsec_a", 1_700_000_000, BODY)
    assert header.startswith("t=1700000000,v1=")
    assert verify("whsec_a", header, BODY, now=1_700_000_010)
    assert not verify("whsec_b", header, BODY, now=1_700_000_010)
    assert not verify("whsec_a", header, BODY + b" ", now=1_700_000_010)


def test_an_old_or_malformed_signature_is_refused():
    header = signature("s", 1_700_000_000, BODY)
    assert not verify("s", header, BODY, now=1_700_000_000 + 301)
    for bad in ["", "t=x,v1=00", "v1=00", "t=1700000000"]:
        assert not verify("s", bad, BODY, now=1_700_000_000)


def test_backoff_doubles_with_jitter_up_to_an_hour():
    rng = random.Random(1)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (5, 16.0), (30, MAX_BACKOFF_SECONDS)]:
        wait = backoff(attempts, rng)
        assert ceiling / 2 <= wait <= ceiling
