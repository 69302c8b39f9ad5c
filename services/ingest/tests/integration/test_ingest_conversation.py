# ruff: noqa: RUF001 (Ukrainian replies are meant)
"""Each command through the real path (PostgreSQL): what it asks of the scheduler, what it
answers, in English and in Ukrainian."""

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.integration


async def test_every_asks_the_scheduler_for_a_cron_in_the_chats_zone_and_language(talk):
    emitted = await talk(talk.message("/every weekday 8:30 standup", language="uk"))
    [asked] = emitted["schedule.requested.v1"]
    assert asked["spec"] == {"kind": "cron", "expression": "30 8 * * 1-5"}
    assert (asked["time_zone"], asked["language"], asked["phrase"]) == (
        "Europe/Kyiv", "uk", "weekday 8:30",
    )  # fmt: skip
    assert asked["owner"] == {"kind": "chat", "id": f"{talk.BOT}:7"}
    assert (asked["chat_id"], asked["message"]["text"]) == (7, "standup")
    assert "send.requested.v1" not in emitted  # the scheduler confirms what it stored


async def test_every_few_weeks_is_a_rule_from_its_first_day(talk):
    emitted = await talk(talk.message("/every 2 weeks on sat 10:00 clean up"))
    [asked] = emitted["schedule.requested.v1"]
    assert asked["spec"]["kind"] == "rrule"
    assert asked["spec"]["rrule"].startswith("FREQ=WEEKLY;INTERVAL=2;BYDAY=SA")
    assert datetime.fromisoformat(asked["starts_on"]).weekday() == 5


async def test_ping_asks_for_random_times_in_a_window(talk):
    emitted = await talk(talk.message("/ping 3 09:00-18:00 drink water"))
    [asked] = emitted["schedule.requested.v1"]
    assert asked["spec"]["kind"] == "pings"
    assert (asked["spec"]["per_day"], asked["spec"]["window_start"]) == (3, "09:00:00")


@pytest.mark.parametrize(
    ("text", "language", "said"),
    [
        ("/every sometimes tea", "en", "I couldn't understand how often 'sometimes tea' is"),
        ("/every sometimes tea", "uk", "Не зрозумів, як часто це: 'sometimes tea'"),
        ("/every daily tea", "uk", "О котрій?"),
        ("/ping 3 18:00-09:00 x", "en", "The window must end after it starts"),
        ("/ping 3 18:00-09:00 x", "uk", "Проміжок має закінчуватися після початку"),
        ("/remind 2026-01-01 10:00 x", "uk", "2026-01-01 10:00 вже минуло"),
        ("/remind fri", "en", "At what time fri?"),
        ("/cancel", "en", "Which one? Write it like /cancel 12"),
        ("/pause", "uk", "Яке саме? Напишіть так: /pause 12"),
        ("/subscribe", "en", "Which topic? Write it like /subscribe news"),
        ("/subscribe Новини!", "uk", "Новини! — не назва теми"),
        ("/snooze 10m", "en", "Reply /snooze to the reminder you want again"),
        ("/language klingon", "en", "I don't speak klingon yet. I speak English, Українська"),
        ("/tz Mars/Olympus", "uk", "Я не знаю часового поясу 'Mars/Olympus'"),
        ("/frobnicate", "uk", "Я не знаю команди /frobnicate"),
        ("/help", "uk", "Ось що я розумію"),
        ("/help", "en", "/every <how often> <what>"),
    ],
)
async def test_errors_and_answers_in_the_senders_language(talk, text, language, said):
    emitted = await talk(talk.message(text, language=language))
    assert said in talk.reply_of(emitted)
    assert set(emitted) == {"send.requested.v1", "message.received.v1"}


async def test_errors_end_with_a_correct_example(talk):
    reply = talk.reply_of(await talk(talk.message("/every sometimes tea", language="uk")))
    assert "/every day 9:00 випити води" in reply
    reply = talk.reply_of(await talk(talk.message("/remind 2026-01-01 10:00 x")))
    assert "/remind fri 18:30 movie night" in reply


async def test_list_and_topics_ask_the_scheduler(talk):
    [listed] = (await talk(talk.message("/list")))["listing.requested.v1"]
    assert (listed["what"], listed["page"], listed["edit_message_id"]) == ("schedules", 1, None)
    assert listed["reply_to_message_id"] is not None
    [topics] = (await talk(talk.message("/topics", language="uk")))["listing.requested.v1"]
    assert (topics["what"], topics["language"]) == ("topics", "uk")


async def test_a_page_button_asks_for_that_page_in_place(talk):
    shown = talk.bot_message("Your schedules, page 1 of 3:")
    emitted = await talk(talk.pressed("list:schedules:2", shown))
    [listed] = emitted["listing.requested.v1"]
    assert (listed["page"], listed["edit_message_id"]) == (2, 900)
    [(_, toast)] = emitted["answers"]
    assert toast == ""


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
async def test_changes_name_the_schedule_as_typed(talk, action):
    [change] = (await talk(talk.message(f"/{action} #12")))["schedule.change.requested.v1"]
    assert (change["schedule_id"], change["action"]) == ("#12", action)
    assert change["owner"] == {"kind": "chat", "id": f"{talk.BOT}:7"}


async def test_subscribe_and_unsubscribe(talk):
    [sub] = (await talk(talk.message("/subscribe #News")))["subscription.requested.v1"]
    assert (sub["topic"], sub["action"], sub["chat_id"]) == ("news", "subscribe", 7)
    [unsub] = (await talk(talk.message("/unsubscribe news")))["subscription.requested.v1"]
    assert unsub["action"] == "unsubscribe"


async def test_snooze_button_answers_edits_and_asks_again_later(talk):
    reminder = talk.bot_message("⏰ call mom")
    before = datetime.now(UTC)
    emitted = await talk(talk.pressed("snooze:15m", reminder))
    [snooze] = emitted["snooze.requested.v1"]
    until = datetime.fromisoformat(snooze["until"])
    assert before + timedelta(minutes=15) <= until <= datetime.now(UTC) + timedelta(minutes=15)
    assert (snooze["text"], snooze["chat_id"], snooze["time_zone"]) == (
        "⏰ call mom", 7, "Europe/Kyiv",
    )  # fmt: skip
    [(query, toast)] = emitted["answers"]
    assert query.startswith("q")
    assert toast.startswith("💤 Snoozed until ")
    [edit] = emitted["message.edit.requested.v1"]
    assert (edit["chat_id"], edit["message_id"], edit["buttons"]) == (7, 900, [])
    assert edit["text"] == f"⏰ call mom\n\n{toast}"
    assert edit["source"]["kind"] == "reply"


async def test_snooze_command_as_a_reply_to_a_reminder(talk):
    emitted = await talk(talk.message("/snooze 1h", reply_to=talk.bot_message("⏰ stretch")))
    [snooze] = emitted["snooze.requested.v1"]
    assert snooze["text"] == "⏰ stretch"
    assert "💤 Snoozed until" in talk.reply_of(emitted)
    emitted = await talk(talk.message("/snooze tomorrow 9:00", reply_to=talk.bot_message("x")))
    assert "snooze.requested.v1" in emitted
    emitted = await talk(talk.message("/snooze someday", reply_to=talk.bot_message("x")))
    assert "snooze.requested.v1" not in emitted
    assert "I couldn't understand 'someday' as a duration" in talk.reply_of(emitted)
    assert "/snooze tomorrow 9:00" in talk.reply_of(emitted)


async def test_an_unknown_button_is_answered_and_nothing_else(talk):
    emitted = await talk(talk.pressed("forged:1", talk.bot_message("x")))
    assert emitted == {"answers": [(emitted["answers"][0][0], "This button no longer works.")]}


async def test_a_button_under_a_message_too_old_to_see_is_answered(talk):
    gone = {"message_id": 900, "date": 0, "chat": {"id": 7, "type": "private"}}
    emitted = await talk(talk.pressed("snooze:15m", gone))
    assert list(emitted) == ["answers"]


async def test_language_is_telegrams_until_chosen_then_the_choice(talk):
    emitted = await talk(talk.message("/start", language="uk-UA"))
    assert "Привіт! Я Chime" in talk.reply_of(emitted)
    [chosen] = emitted["language.set.v1"]
    assert (chosen["language"], chosen["chosen_by"]) == ("uk", "telegram")
    emitted = await talk(talk.message("/language English", language="uk"))
    assert talk.reply_of(emitted) == "🗣 Done: I'll speak English with you."
    assert emitted["language.set.v1"][0]["chosen_by"] == "command"
    # Telegram's code no longer decides, and another /start does not override the choice.
    assert "I don't know /nope" in talk.reply_of(await talk(talk.message("/nope", language="uk")))
    assert "language.set.v1" not in await talk(talk.message("/start", language="uk"))
    assert (await talk.chat())["language"] == "en"


async def test_language_buttons(talk):
    emitted = await talk(talk.message("/language"))
    [sent] = emitted["send.requested.v1"]
    assert "I speak English with you" in sent["text"]
    assert [b["callback_data"] for b in sent["buttons"][0]] == ["lang:en", "lang:uk"]
    emitted = await talk(talk.pressed("lang:uk", talk.bot_message(sent["text"])))
    assert emitted["language.set.v1"][0]["language"] == "uk"
    [edit] = emitted["message.edit.requested.v1"]
    assert edit["text"] == "🗣 Готово: тепер я розмовляю з вами мовою: Українська."
    assert emitted["answers"][0][1] == edit["text"]


async def test_stop_pauses_and_start_resumes(talk):
    await talk(talk.message("/start"))
    emitted = await talk(talk.message("/stop"))
    assert emitted["chat.stopped.v1"][0]["chat_id"] == 7
    assert "Stopped" in talk.reply_of(emitted)
    again = await talk(talk.message("/stop"))
    assert "chat.stopped.v1" not in again
    assert "stopped me already" in talk.reply_of(again)
    assert (await talk.chat())["stopped"] is True
    emitted = await talk(talk.message("/start"))
    assert emitted["chat.resumed.v1"][0]["chat_id"] == 7
    assert talk.reply_of(emitted).startswith("👋 Welcome back!")
    assert "chat.resumed.v1" not in await talk(talk.message("/start"))
    assert (await talk.chat())["stopped"] is False
    assert await talk.stream() == [
        "user.started.v1", "language.set.v1", "chat.stopped.v1", "user.started.v1",
        "chat.resumed.v1", "user.started.v1",
    ]  # fmt: skip


async def test_start_keeps_the_deep_link_payload(talk):
    [started] = (await talk(talk.message("/start ref-42")))["user.started.v1"]
    assert started["payload"] == "ref-42"


async def test_every_reply_says_it_is_a_reply(talk):
    [sent] = (await talk(talk.message("/help")))["send.requested.v1"]
    assert sent["source"]["kind"] == "reply"
    assert sent["source"]["id"] == sent["delivery_id"].removeprefix("reply:")
    assert sent["origin"] == "ingest.reply"
