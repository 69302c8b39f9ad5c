"""The confirmation line the bot and the api share."""

from datetime import UTC, datetime

import pytest

from chime_schedules import language_of, next_line

pytestmark = pytest.mark.unit
NOW = datetime(2026, 2, 20, tzinfo=UTC)
AT = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 09:00 in Kyiv


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "next: Mon 2 Mar 09:00"),
        (None, "next: Mon 2 Mar 09:00"),
        ("uk", "наступне: пн 2 бер. 09:00"),  # noqa: RUF001
        ("uk-UA", "наступне: пн 2 бер. 09:00"),  # noqa: RUF001
        ("de", "next: Mon 2 Mar 09:00"),
    ],
)
def test_the_next_line_in_the_chats_language(language, expected):
    assert next_line(AT, "Europe/Kyiv", language, NOW) == expected


def test_another_year_is_named_and_none_left_is_said():
    assert (
        next_line(AT.replace(year=2027), "Europe/Kyiv", "en", NOW) == "next: Tue 2 Mar 2027 09:00"
    )
    assert next_line(None, "Europe/Kyiv", "en") == "no more occurrences"
    assert next_line(None, "Europe/Kyiv", "uk") == "більше не спрацює"
    assert language_of("UK_ua") == "uk"
