"""Settings: tokens from the environment as JSON or a comma list, never echoed."""

import pytest
from pydantic import ValidationError

from chime_sender.settings import SenderSettings

pytestmark = pytest.mark.unit

TOKEN_A = "111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
TOKEN_B = "222:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def test_defaults() -> None:
    settings = SenderSettings()
    assert settings.http_port == 8003
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.token_rate == 30
    assert settings.chat_interval == 1.0


@pytest.mark.parametrize(
    "raw", [f'["{TOKEN_A}", "{TOKEN_B}"]', f"{TOKEN_A},{TOKEN_B}", f" {TOKEN_A} , {TOKEN_B} "]
)
def test_tokens_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CHIME_SENDER_BOT_TOKENS", raw)
    tokens = SenderSettings().bot_tokens
    assert [t.get_secret_value() for t in tokens] == [TOKEN_A, TOKEN_B]
    assert TOKEN_A not in repr(SenderSettings())


def test_a_malformed_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as refused:
        SenderSettings(bot_tokens=["secretsecret"])
    assert "secretsecret" not in str(refused.value)


def test_the_lease_must_outlast_a_call() -> None:
    with pytest.raises(ValidationError):
        SenderSettings(lease_seconds=5, telegram_timeout_seconds=10)


def test_a_bot_may_have_limits_of_its_own() -> None:
    from chime_sender.bootstrap import policy_of
    from chime_sender.domain.limits import slot_interval

    settings = SenderSettings(
        database_url="postgresql://x/y", bot_limits={"7": {"token_rate": 10, "chat_interval": 0}}
    )
    policy = policy_of(settings)
    assert policy.limits_of(7).token_rate == 10
    assert policy.limits_of(7).chat_interval == 0
    assert policy.limits_of(8) == policy.limits
    assert slot_interval(policy.limits_of(7)).total_seconds() == pytest.approx(1.03 / 10)
