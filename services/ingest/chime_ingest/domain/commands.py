"""Bot commands as users type them: `/remind@chime_bot in 5m tea`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    addressee: str | None = None  # the bot named after `@`, if any

    def for_bot(self, username: str | None) -> bool:
        """Whether a command is this bot's: unaddressed, or addressed to its username.

        A bot whose username is not yet known takes every command: with Telegram's privacy
        mode (the default) a group only ever shows a bot commands meant for it.
        """
        if self.addressee is None or username is None:
            return True
        return self.addressee.lower() == username.lower()


def parse_command(text: str) -> Command | None:
    """None when the text is not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, *rest = text.split(maxsplit=1)
    name, _, addressee = head[1:].partition("@")
    name = name.lower()
    if not name or not name.replace("_", "").isalnum() or not name.isascii():
        return None
    return Command(name=name, args=rest[0].strip() if rest else "", addressee=addressee or None)
