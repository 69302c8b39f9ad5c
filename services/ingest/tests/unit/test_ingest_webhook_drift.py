"""Drift between a bot's configured webhook and what getWebhookInfo says."""

import pytest

from chime_ingest.domain.webhooks import Webhook, drift, webhook_url

pytestmark = pytest.mark.unit

WANTED = Webhook("https://i.example/telegram/1/webhook", ("message", "callback_query"), 40)


def test_the_url_is_built_from_the_public_base():
    assert webhook_url("https://i.example/", 1) == WANTED.url


def test_none_when_telegram_has_what_is_configured():
    info = {
        "url": WANTED.url,
        "max_connections": 40,
        "allowed_updates": ["callback_query", "message"],  # order does not matter
        "pending_update_count": 3,
    }
    assert drift(WANTED, info) == []


def test_each_field_that_differs_is_named():
    info = {"url": "https://old/", "max_connections": 10, "allowed_updates": ["message"]}
    found = drift(WANTED, info)
    assert len(found) == 3
    assert found[0].startswith("url:")
    assert found[1].startswith("allowed_updates:")
    assert found[2] == "max_connections: Telegram has 10, configured 40"


def test_no_webhook_is_one_drift_and_telegrams_default_matches_an_empty_list():
    assert drift(WANTED, {"url": ""}) == [f"url: Telegram has '(none)', configured {WANTED.url!r}"]
    default = Webhook(WANTED.url, (), 40)
    assert drift(default, {"url": WANTED.url, "max_connections": 40}) == []
