import pytest
from pydantic import ValidationError

from chime_kit.bots import BotTokens, bot_id_of, tokens_by_bot
from chime_kit.settings import ServiceSettings

pytestmark = pytest.mark.unit

A = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
B = "654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


class WithTokens(ServiceSettings):
    bot_tokens: BotTokens = []


def test_bot_id_is_the_number_before_the_colon():
    assert bot_id_of(A) == 123456
    with pytest.raises(ValueError, match="token"):
        bot_id_of("not-a-token")


@pytest.mark.parametrize("raw", [f"{A},{B}", f" {A} , {B} ,", f'["{A}", "{B}"]'])
def test_tokens_from_the_environment(monkeypatch, raw):
    monkeypatch.setenv("CHIME_BOT_TOKENS", raw)
    tokens = tokens_by_bot(WithTokens().bot_tokens)
    assert {k: v.get_secret_value() for k, v in tokens.items()} == {123456: A, 654321: B}


def test_a_bad_token_is_refused_without_echoing_it(monkeypatch):
    monkeypatch.setenv("CHIME_BOT_TOKENS", f"{A},oops-secret-value")
    with pytest.raises(ValidationError) as caught:
        WithTokens()
    assert "#1" in str(caught.value)
    assert "oops-secret-value" not in str(caught.value)
    assert A not in str(caught.value)
