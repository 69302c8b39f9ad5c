import pytest
from pydantic import ValidationError

from chime_ingest.settings import IngestSettings

pytestmark = pytest.mark.unit

TOKEN = "5550003:AAIngestSettingsTestTokenXXXXXXXXXXX"


def test_webhook_mode_refuses_to_start_without_a_secret_key():
    with pytest.raises(ValidationError, match="CHIME_INGEST_WEBHOOK_SECRET_KEY must be set"):
        IngestSettings(bot_tokens=[TOKEN])


def test_polling_mode_and_a_bot_less_ingest_need_none():
    assert IngestSettings(bot_tokens=[TOKEN], mode="polling").webhook_secret_key is None
    assert IngestSettings().bot_tokens == []


def test_the_key_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHIME_INGEST_BOT_TOKENS", TOKEN)
    monkeypatch.setenv("CHIME_INGEST_WEBHOOK_SECRET_KEY", "s3cret")
    settings = IngestSettings()
    assert settings.webhook_secret_key is not None
    assert settings.webhook_secret_key.get_secret_value() == "s3cret"
