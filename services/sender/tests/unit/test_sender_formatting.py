"""Escaping and splitting: what reaches Telegram parses and fits."""

import pytest

from chime_sender.domain.formatting import (
    escape_html,
    escape_markdown_v2,
    message_parts,
    split_message,
    utf16_len,
)

pytestmark = pytest.mark.unit

EMOJI = "\U0001f600"  # two UTF-16 units


def test_html_escapes_only_what_telegram_parses() -> None:
    assert escape_html("a < b & c > d \"q\" 'x'") == "a &lt; b &amp; c &gt; d \"q\" 'x'"


@pytest.mark.parametrize("ch", list("_*[]()~`>#+-=|{}.!\\"))
def test_markdown_v2_escapes_every_special_character(ch: str) -> None:
    assert escape_markdown_v2(f"a{ch}b") == f"a\\{ch}b"


def test_markdown_v2_leaves_plain_text_alone() -> None:
    assert escape_markdown_v2("Hello, world: 42 ⏰") == "Hello, world: 42 ⏰"
    assert escape_markdown_v2("v1.2 (beta)!") == "v1\\.2 \\(beta\\)\\!"


def test_length_is_counted_in_utf16_units() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len(EMOJI) == 2
    assert utf16_len("é⏰") == 2


def test_short_text_is_one_part() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("x" * 4096) == ["x" * 4096]


def test_parts_fit_and_join_back_to_the_text() -> None:
    text = " ".join(f"word{i}" for i in range(3000))
    parts = split_message(text)
    assert len(parts) > 1
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts) == text


def test_paragraphs_are_preferred_to_lines_and_words() -> None:
    text = "aaaa bbbb\ncccc\n\ndddd eeee"
    assert split_message(text, limit=20) == ["aaaa bbbb\ncccc\n\n", "dddd eeee"]


def test_lines_are_preferred_to_words() -> None:
    text = "aaaa bbbb\ncccc dddd"
    assert split_message(text, limit=15) == ["aaaa bbbb\n", "cccc dddd"]


def test_words_when_no_line_fits() -> None:
    assert split_message("aaaa bbbb cccc", limit=10) == ["aaaa bbbb ", "cccc"]


def test_a_boundary_right_at_the_limit_is_used() -> None:
    assert split_message("aaaa\n\nbbbb", limit=4) == ["aaaa", "\n\n", "bbbb"]
    assert message_parts("aaaa\n\nbbbb", limit=4) == ["aaaa", "bbbb"]
    assert split_message("aaaa bbb", limit=4) == ["aaaa", " bbb"]


def test_a_word_longer_than_a_message_is_cut() -> None:
    assert split_message("x" * 10, limit=4) == ["xxxx", "xxxx", "xx"]


def test_a_surrogate_pair_is_never_split() -> None:
    text = "a" + EMOJI * 5  # 11 units
    parts = split_message(text, limit=4)
    assert parts == ["a" + EMOJI, EMOJI * 2, EMOJI * 2]
    assert all(utf16_len(p) <= 4 for p in parts)
    for part in parts:
        part.encode("utf-16-le").decode("utf-16-le")  # no lone surrogate


def test_emoji_count_double_against_the_limit() -> None:
    text = EMOJI * 2048  # 4096 units: one message
    assert split_message(text) == [text]
    assert len(split_message(text + "a")) == 2


def test_message_parts_drop_blank_parts() -> None:
    text = "a" * 4 + " " * 8 + "b"
    assert [p.strip() for p in message_parts(text, limit=4)] == ["aaaa", "b"]
    assert message_parts("hi") == ["hi"]
