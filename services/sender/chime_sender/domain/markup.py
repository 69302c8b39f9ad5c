"""Splitting formatted text (HTML or MarkdownV2) without breaking an entity or a tag.

A part never ends inside a tag, an HTML character reference, a MarkdownV2 escape or link;
an entity open where a part ends is closed at its end and opened again at the start of the
next, so each part parses on its own and shows the same formatting. Cuts prefer paragraph,
then line, then word boundaries, like plain splitting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from chime_sender.domain.formatting import _prefix_within, split_message, utf16_len

_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")
_SEPARATORS = ("\n\n", "\n", " ")


@dataclass(frozen=True)
class Scan:
    """Per position of a text: whether a part may end there, and the entities then open
    (each as the text that opens it and the text that closes it)."""

    safe: list[bool]
    open_at: list[tuple[tuple[str, str], ...]]


def scan_html(text: str) -> Scan:
    safe = [True] * (len(text) + 1)
    open_at: list[tuple[tuple[str, str], ...]] = [()] * (len(text) + 1)
    stack: list[tuple[str, str, str]] = []  # name, opening, closing
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<" and (m := _TAG.match(text, i)):
            closing, name = m.group(1), m.group(2).lower()
            end = m.end()
            for j in range(i + 1, end):
                safe[j] = False
                open_at[j] = tuple((o, c) for _, o, c in stack)
            if closing:
                for k in range(len(stack) - 1, -1, -1):
                    if stack[k][0] == name:
                        del stack[k:]
                        break
            elif not m.group(0).endswith("/>"):
                stack.append((name, m.group(0), f"</{name}>"))
            i = end
        elif ch == "&" and (semi := text.find(";", i, i + 12)) > 0:
            for j in range(i + 1, semi + 1):
                safe[j] = False
                open_at[j] = tuple((o, c) for _, o, c in stack)
            i = semi + 1
        else:
            i += 1
        open_at[i] = tuple((o, c) for _, o, c in stack)
    return Scan(safe, open_at)


_MD_MARKERS = ("```", "||", "__", "*", "_", "~", "`")


def scan_markdown_v2(text: str) -> Scan:
    safe = [True] * (len(text) + 1)
    open_at: list[tuple[tuple[str, str], ...]] = [()] * (len(text) + 1)
    stack: list[tuple[str, str]] = []  # marker, opening text
    i = 0

    def mark(start: int, end: int) -> None:
        for j in range(start + 1, end):
            safe[j] = False
            open_at[j] = tuple((o, m) for m, o in stack)

    while i < len(text):
        ch = text[i]
        code = bool(stack) and stack[-1][0] in ("`", "```")
        if ch == "\\":
            mark(i, i + 2)
            i += 2
        elif not code and text.startswith("[", i + (ch == "!")) and ch in "[!":
            # A link or custom emoji, [text](url): never cut inside.
            close = text.find(")", text.find("](", i))
            end = close + 1 if close > 0 else len(text)
            mark(i, end)
            i = end
        else:
            marker = next((m for m in _MD_MARKERS if text.startswith(m, i)), None)
            if marker is None or (code and marker not in ("`", "```")):
                i += 1
            elif stack and stack[-1][0] == marker:
                stack.pop()
                mark(i, i + len(marker))
                i += len(marker)
            elif any(m == marker for m, _ in stack):  # closes an outer one: take it off
                stack[:] = stack[: next(k for k, (m, _) in enumerate(stack) if m == marker)]
                mark(i, i + len(marker))
                i += len(marker)
            else:
                opening = marker
                if marker == "```":  # the language line belongs to the opening
                    newline = text.find("\n", i)
                    opening = text[i : newline + 1] if newline > 0 else marker
                mark(i, i + len(opening))
                stack.append((marker, opening))
                i += len(opening)
        open_at[min(i, len(text))] = tuple((o, m) for m, o in stack)
    return Scan(safe, open_at)


SCANNERS: dict[str, Callable[[str], Scan]] = {"HTML": scan_html, "MarkdownV2": scan_markdown_v2}


def _cut(piece: str, scan: Scan, start: int, end: int) -> int:
    """The best place to end a part within (start, end]: a safe boundary, else a safe place."""
    for separator in _SEPARATORS:
        at = end
        while (at := piece.rfind(separator, start, at)) > start:
            cut = at + len(separator)
            if cut <= end and scan.safe[cut]:
                return cut
    for cut in range(end, start, -1):
        if scan.safe[cut]:
            return cut
    return end


def split_formatted(text: str, parse_mode: str | None, limit: int) -> list[str]:
    """Parts of at most `limit` UTF-16 units, each well-formed in `parse_mode`."""
    scanner = SCANNERS.get(parse_mode or "")
    if scanner is None:
        return split_message(text, limit)
    parts: list[str] = []
    piece = text
    reopened = 0  # how much of `piece` re-opens entities: a part must take more than that
    while utf16_len(piece) > limit:
        scan = scanner(piece)
        budget = limit
        while True:
            end = max(reopened + 1, _prefix_within(piece, budget))
            cut = _cut(piece, scan, reopened, end)
            entities = scan.open_at[cut]
            closing = "".join(c for _, c in reversed(entities))
            over = utf16_len(piece[:cut] + closing) - limit
            if over <= 0 or budget <= reopened + 1:
                break
            budget -= over
        parts.append(piece[:cut] + closing)
        opening = "".join(o for o, _ in entities)
        piece = opening + piece[cut:]
        reopened = len(opening)
    parts.append(piece)
    return parts
