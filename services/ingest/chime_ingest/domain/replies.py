"""What the bot says back. Friendly, short, and always says how to do it right."""

from chime_ingest.domain.time_phrases import HOW_TO

WELCOME = (
    "👋 Hi! I'm Chime. I remind you of things on time.\n\n"
    + HOW_TO
    + "\n\nYour time zone is {time_zone}. /help shows this again."
)
HELP = "Here is what I understand:\n\n" + HOW_TO


def unknown_command(name: str) -> str:
    return f"I don't know /{name}. /help lists what I can do."


def cannot_understand(problem: str) -> str:
    return f"🤔 {problem}"
