"""Text that reaches Telegram intact: escaping for its parse modes, and splitting long text.

Telegram measures text in UTF-16 code units (4096 per message), so lengths here do too, and a
split never falls inside a surrogate pair (an emoji outside the BMP is two units).
"""

from __future__ import annotations

import re

MAX_MESSAGE_UTF16 = 4096

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MARKDOWN_V2_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def escape_html(text: str) -> str:
    """Escape text for parse_mode HTML (Telegram needs only &, < and >)."""
    return "".join(_HTML.get(ch, ch) for ch in text)


def escape_markdown_v2(text: str) -> str:
    """Escape text for parse_mode MarkdownV2: every special character gets a backslash."""
    return _MARKDOWN_V2_SPECIAL.sub(r"\\\1", text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The number of characters of `text` whose UTF-16 length is at most `limit`."""
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(rest: str, end: int) -> int:
    """Where to end the part that may reach `end`: a paragraph, a line, a word break."""
    head = rest[:end]
    for separator in ("\n\n", "\n", " "):
        if rest.startswith(separator, end):
            return end
        at = head.rfind(separator)
        if at > 0:
            return at + len(separator)
    return end


def split_message(text: str, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """Split into parts of at most `limit` UTF-16 units, joined back they are the text.

    Prefers paragraph, then line, then word boundaries; cuts mid-word only when a single word
    is longer than a message. Separators stay at the end of the part they follow.
    """
    if limit < 2:
        raise ValueError("limit must leave room for a surrogate pair")
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        end = _cut(rest, _prefix_within(rest, limit))
        parts.append(rest[:end])
        rest = rest[end:]
    if rest or not parts:
        parts.append(rest)
    return parts


def message_parts(text: str, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """The messages one delivery becomes, in order; blank parts (Telegram refuses them) go."""
    return [part for part in split_message(text, limit) if part.strip()] or [text]
