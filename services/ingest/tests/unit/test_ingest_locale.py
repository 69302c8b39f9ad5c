"""The reply languages: every message in the code has its Ukrainian, dates as each writes them."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import chime_ingest
from chime_ingest.domain.callbacks import ChooseLanguage, Page, Snooze, parse_button
from chime_ingest.domain.commands import Command, parse_command
from chime_ingest.locale import Texts, display_name, language_named, supported, translations

pytestmark = pytest.mark.unit

PACKAGE = Path(chime_ingest.__file__).parent
_FIELD = re.compile(r"{(\w+)}")


def messages_in_the_code() -> set[str]:
    found = extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")], keywords={"N_": None})
    return {message for _, _, message, _, _ in found}


def test_every_message_in_the_code_is_in_the_catalogs_and_translated():
    in_code = messages_in_the_code()
    assert len(in_code) > 40
    with (PACKAGE / "locale" / "messages.pot").open("rb") as pot:
        assert {m.id for m in read_po(pot) if m.id} == in_code, "run pybabel extract/update"
    with (PACKAGE / "locale" / "uk" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="uk")
    for message in in_code:
        translated = catalog.get(message)
        assert translated is not None, f"not in the Ukrainian catalog: {message!r}"
        assert translated.string, f"no Ukrainian for {message!r}"
        assert "fuzzy" not in translated.flags
        # The same fields, so filling them in never fails in either language.
        assert set(_FIELD.findall(translated.string)) == set(_FIELD.findall(message)), message
        assert translations("uk").gettext(message) == translated.string  # compiled as read


def test_dates_and_times_are_written_as_each_language_writes_them():
    instant = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    assert Texts("en").when(instant, "Europe/Kyiv") == "Fri 4 Dec 18:30"
    assert Texts("uk").when(instant, "Europe/Kyiv") == "пт 4 груд. 18:30"
    assert Texts("uk").clock(instant, "America/New_York") == "11:30"


@pytest.mark.parametrize(
    ("code", "language"),
    [("uk", "uk"), ("uk-UA", "uk"), ("en-GB", "en"), ("EN", "en"), ("de", None), (None, None)],
)
def test_telegram_language_codes(code, language):
    assert supported(code) == language


@pytest.mark.parametrize(
    ("named", "language"),
    [("uk", "uk"), ("Ukrainian", "uk"), ("українська", "uk"), ("English", "en"),
     ("англійська", "en"), ("en-US", "en"), ("klingon", None)],
)  # fmt: skip
def test_languages_by_any_name(named, language):
    assert language_named(named) == language


def test_languages_name_themselves():
    assert (display_name("en"), display_name("uk")) == ("English", "Українська")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/every@Chime_Bot daily 9:00 x", Command("every", "daily 9:00 x", "Chime_Bot")),
        ("/start abc123", Command("start", "abc123")),
        ("/list\nsecond line", Command("list", "second line")),
        ("/стоп", None),
    ],
)
def test_commands_and_whom_they_address(text, command):
    assert parse_command(text) == command


def test_a_command_is_this_bots_when_unaddressed_or_addressed_to_it():
    assert Command("list", "").for_bot("chime_bot")
    assert Command("list", "", "CHIME_bot").for_bot("chime_bot")
    assert not Command("list", "", "other_bot").for_bot("chime_bot")
    assert Command("list", "", "other_bot").for_bot(None)  # not known yet: privacy mode


@pytest.mark.parametrize(
    ("data", "button"),
    [
        ("snooze:15m", Snooze(parse_button("snooze:15m").delay)),  # type: ignore[union-attr]
        ("list:schedules:2", Page("schedules", 2)),
        ("list:topics:1", Page("topics", 1)),
        ("lang:uk", ChooseLanguage("uk")),
        ("snooze:soon", None),
        ("list:schedules:0", None),
        ("list:secrets:1", None),
        ("list:topics:²", None),
        ("lang:xx", None),
        ("", None),
        (None, None),
    ],
)
def test_buttons(data, button):
    assert parse_button(data) == button
