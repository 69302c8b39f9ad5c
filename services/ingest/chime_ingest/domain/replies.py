"""What the bot says back. Friendly, short, and always says how to do it right."""

from chime_ingest.domain.time_phrases import HOW_TO

WELCOME = (
    "👋 Hi! I'm Chime. I remind you of things on time.\n\n"
    + HOW_TO
    + "\n\nYour time zone is {time_zone}; /tz changes it. /help shows this again."
)
HELP = (
    "Here is what I understand:\n\n"
    + HOW_TO
    + "\n\n/tz shows your time zone; /tz Europe/Berlin sets it."
)


def time_zone_is(time_zone: str, local_time: str) -> str:
    return (
        f"🌍 Your time zone is {time_zone} (it's {local_time} there). /tz Europe/Berlin changes it."
    )


def time_zone_set(time_zone: str, local_time: str) -> str:
    return f"🌍 Done: your time zone is now {time_zone} (it's {local_time} there)."


def unknown_command(name: str) -> str:
    return f"I don't know /{name}. /help lists what I can do."


def cannot_understand(problem: str) -> str:
    return f"🤔 {problem}"
