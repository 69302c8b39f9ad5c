"""What the bot says back. Friendly, short, and always says how to do it right.

Every text is an English msgid of the gettext catalogs (chime_ingest/locale); `Texts` puts
it in the chat's language. The scheduler confirms what it stores; these are the replies
ingest can give by itself.
"""

from __future__ import annotations

from chime_ingest.domain.time_phrases import HOW_TO, N_, PhraseError
from chime_ingest.locale import LANGUAGES, Texts, display_name

WELCOME = N_(
    "👋 Hi! I'm Chime. I remind you of things on time.\n\n"
    "{how_to}\n\n"
    "Your time zone is {time_zone}; /tz changes it. /help shows everything I can do."
)
WELCOME_BACK = N_("👋 Welcome back! What /stop paused runs again.")
HELP = N_(
    "Here is what I understand:\n\n"
    "/remind <when> <what> — once, e.g. /remind fri 18:30 movie night\n"
    "/every <how often> <what> — e.g. /every weekday 8:30 standup\n"
    "/ping <n> <HH:MM-HH:MM> <what> — n random times a day in that window\n"
    "/list — what is planned, with numbers\n"
    "/pause 12, /resume 12, /cancel 12 — change one by its number\n"
    "/snooze 30m — as a reply to a reminder: again later\n"
    "/subscribe news, /unsubscribe news, /topics — topics you follow\n"
    "/tz Europe/Berlin — your time zone\n"
    "/language — the language I speak with you\n"
    "/stop — pause everything; /start brings it back"
)
STOPPED = N_(
    "🔕 Stopped: your schedules are paused and I won't send you anything."
    " /start brings everything back."
)
ALREADY_STOPPED = N_("🔕 You have stopped me already. /start brings everything back.")
WHICH_ONE = N_("Which one? Write it like /{command} 12 (/list shows the numbers).")
WHICH_TOPIC = N_("Which topic? Write it like /{command} news (/topics shows yours).")
BAD_TOPIC = N_(
    "{topic} is not a topic name: use Latin letters, digits, - and _ (up to 64), "
    "like /{command} news."
)
SNOOZE_WHICH = N_(
    "Reply /snooze to the reminder you want again, e.g. /snooze 30m"
    " (15 minutes if you give no time)."
)
SNOOZED = N_("💤 Snoozed until {when}")
UNKNOWN_BUTTON = N_("This button no longer works.")
LANGUAGE_IS = N_("🗣 I speak {language} with you. Choose another, or write /language uk:")
LANGUAGE_SET = N_("🗣 Done: I'll speak {language} with you.")
UNKNOWN_LANGUAGE = N_(
    "I don't speak {language} yet. I speak {languages}: write it like /language uk."
)
TIME_ZONE_IS = N_(
    "🌍 Your time zone is {time_zone} (it's {time} there). /tz Europe/Berlin changes it."
)
TIME_ZONE_SET = N_("🌍 Done: your time zone is now {time_zone} (it's {time} there).")
UNKNOWN_COMMAND = N_("I don't know /{command}. /help lists what I can do.")
PROBLEM = N_("🤔 {problem}")
POOL_LINK = N_(
    "👋 Hi! I'm Chime. Your reminders will come from @{bot}: open this link and press Start"
    " there.\n{link}"
)
POOL_ELSEWHERE = N_("Your reminders come from @{bot}: please write to it there.\n{link}")
POOL_UNAVAILABLE = N_("😔 No bot of mine can take you right now. Please /start me again later.")


def welcome(texts: Texts, time_zone: str) -> str:
    return texts.say(WELCOME, how_to=texts.say(HOW_TO), time_zone=time_zone)


def problem(texts: Texts, error: PhraseError) -> str:
    """A phrase error in the chat's language, with its example when it has one."""
    said = texts.say(PROBLEM, problem=texts.say(error.message, **error.fields))
    return f"{said}\n{texts.say(error.hint)}" if error.hint else said


def languages() -> str:
    return ", ".join(display_name(language) for language in LANGUAGES)
