import json
from pathlib import Path

import pytest

from chime_ingest.domain.bots import secret_matches, webhook_secret
from chime_ingest.domain.commands import Command, parse_command
from chime_ingest.domain.updates import NotAnUpdate, check_update, update_id_of

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[4].parent / "shared" / "telegram-bot-api" / "samples"
VALID = sorted(SAMPLES.glob("*.json"))
INVALID = sorted((SAMPLES / "invalid").glob("*.json"))


def test_the_shared_samples_are_there():
    assert len(VALID) >= 30
    assert len(INVALID) >= 3


@pytest.mark.parametrize(
    "path", [p for p in VALID if p.name != "MANIFEST.json"], ids=lambda p: p.name
)
def test_every_real_update_is_accepted(path):
    body = json.loads(path.read_text())
    update = check_update(body)
    assert update.update_id == body["update_id"]
    assert update.kind in body


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_broken_updates_are_refused_with_a_reason(path):
    body = json.loads(path.read_text())
    update_id_of(body)  # they still carry an update_id: recorded as rejected, stream goes on
    with pytest.raises(ValueError, match=r"\w"):
        check_update(body)


@pytest.mark.parametrize("body", [[], "x", {"update_id": "7"}, {"update_id": True}, {}])
def test_bodies_without_an_update_id_are_not_updates(body):
    with pytest.raises(NotAnUpdate):
        update_id_of(body)


def test_message_fields_are_read():
    update = check_update(
        {
            "update_id": 5,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "A"},
                "text": "/start",
            },
        }
    )
    assert (update.chat_id, update.user_id, update.message.text) == (42, 42, "/start")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/start", Command("start", "")),
        ("/remind@chime_bot in 5m tea", Command("remind", "in 5m tea", "chime_bot")),
        ("/REMIND  in 1h x ", Command("remind", "in 1h x")),
        ("hello", None),
        ("/", None),
        ("/ what", None),
    ],
)
def test_commands(text, command):
    assert parse_command(text) == command


def test_webhook_secrets():
    secret = webhook_secret("key", 1)
    assert secret != webhook_secret("key", 2) != webhook_secret("other", 1)
    assert secret_matches(secret, secret)
    assert not secret_matches(secret, secret[:-1] + "0" if secret[-1] != "0" else secret[:-1] + "1")
    assert not secret_matches(secret, None)
