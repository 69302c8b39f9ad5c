"""parse_mode handling: turns HTML or MarkdownV2 into plain text plus entities.

It is deliberately lighter than Telegram's parser, but rejects the same common mistakes:
unknown or unbalanced HTML tags and unescaped MarkdownV2 reserved characters.
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from chime_emulator.errors import ApiError, bad_request

MARKDOWN_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")

_HTML_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_MARKDOWN_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


@dataclass
class _Output:
    text: list[str] = field(default_factory=list)
    length: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)

    def append(self, chunk: str) -> None:
        self.text.append(chunk)
        self.length += utf16_length(chunk)

    def add_entity(self, kind: str, start: int, extra: dict[str, Any]) -> None:
        if self.length > start:
            self.entities.append({"type": kind, "offset": start, "length": self.length - start})
            self.entities[-1].update(extra)

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.text), self.entities


class _TelegramHtmlParser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self._line_starts.append(index + 1)
        self._source = source
        self.output = _Output()
        self.open_tags: list[tuple[str, int, dict[str, Any]]] = []

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        return len(self._source[: self._line_starts[line - 1] + column].encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _HTML_TAG_ENTITY or (
            tag == "span" and attributes.get("class") != "tg-spoiler"
        ):
            raise parse_error(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        extra: dict[str, Any] = {}
        if tag == "a":
            extra["url"] = attributes.get("href") or ""
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif tag == "code" and self.open_tags and self.open_tags[-1][0] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self.open_tags[-1][2]["language"] = language
        self.open_tags.append((tag, self.output.length, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags:
            raise parse_error(f"Unexpected end tag at byte offset {self._byte_offset()}")
        open_tag, start, extra = self.open_tags.pop()
        if open_tag != tag:
            raise parse_error(
                f"Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{open_tag}>", found "</{tag}>"'
            )
        entity = _HTML_TAG_ENTITY[tag]
        inside_pre = any(name == "pre" for name, _, _ in self.open_tags)
        if not (tag == "code" and inside_pre):
            self.output.add_entity(entity, start, extra)

    def handle_data(self, data: str) -> None:
        self.output.append(data)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    parser = _TelegramHtmlParser(source)
    parser.feed(source)
    parser.close()
    if parser.open_tags:
        tag = parser.open_tags[-1][0]
        raise parse_error(f'Can\'t find end tag corresponding to start tag "{tag}"')
    return parser.output.result()


def _reserved(char: str) -> ApiError:
    return parse_error(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    output = _Output()
    open_entities: list[tuple[str, int, int]] = []  # (type, utf16 start, byte offset)
    index = 0

    def byte_offset(position: int) -> int:
        return len(source[:position].encode())

    def toggle(kind: str, position: int) -> None:
        if open_entities and open_entities[-1][0] == kind:
            _, start, _ = open_entities.pop()
            output.add_entity(kind, start, {})
        elif any(open_kind == kind for open_kind, _, _ in open_entities):
            open_kind, _, opened_at = open_entities[-1]
            raise parse_error(
                f"Can't find end of {_MARKDOWN_ENTITY_NAMES[open_kind]} entity "
                f"at byte offset {opened_at}"
            )
        else:
            open_entities.append((kind, output.length, byte_offset(position)))

    while index < len(source):
        char = source[index]
        if char == "\\":
            if index + 1 >= len(source) or not 1 <= ord(source[index + 1]) <= 126:
                raise _reserved("\\")
            output.append(source[index + 1])
            index += 2
        elif char == "`":
            index = _markdown_code(source, index, output)
        elif char == "*":
            toggle("bold", index)
            index += 1
        elif char == "_":
            underline = source.startswith("__", index)
            toggle("underline" if underline else "italic", index)
            index += 2 if underline else 1
        elif char == "~":
            toggle("strikethrough", index)
            index += 1
        elif source.startswith("||", index):
            toggle("spoiler", index)
            index += 2
        elif char == "[":
            open_entities.append(("text_link", output.length, byte_offset(index)))
            index += 1
        elif char == "]" and open_entities and open_entities[-1][0] == "text_link":
            index = _markdown_link_end(source, index, output, open_entities.pop()[1])
        elif char == ">" and (index == 0 or source[index - 1] == "\n"):
            index += 1  # a blockquote marker; the blockquote entity itself is not modelled
        elif char in MARKDOWN_V2_RESERVED:
            raise _reserved(char)
        else:
            output.append(char)
            index += 1
    if open_entities:
        kind, _, opened_at = open_entities[-1]
        raise parse_error(
            f"Can't find end of {_MARKDOWN_ENTITY_NAMES[kind]} entity at byte offset {opened_at}"
        )
    return output.result()


def _markdown_code(source: str, index: int, output: _Output) -> int:
    """Consumes `code` or ```pre``` starting at index; returns the index after it."""
    is_pre = source.startswith("```", index)
    marker = "```" if is_pre else "`"
    position = index + len(marker)
    language = ""
    if is_pre:
        newline = source.find("\n", position)
        if newline != -1 and source.find("```", position) > newline:
            language = source[position:newline].strip()
            position = newline + 1
    start = output.length
    while position < len(source):
        if source[position] == "\\" and position + 1 < len(source):
            output.append(source[position + 1])
            position += 2
        elif source.startswith(marker, position):
            extra = {"language": language} if language else {}
            output.add_entity("pre" if is_pre else "code", start, extra)
            return position + len(marker)
        else:
            output.append(source[position])
            position += 1
    kind = "Pre" if is_pre else "Code"
    raise parse_error(
        f"Can't find end of {kind} entity at byte offset {len(source[:index].encode())}"
    )


def _markdown_link_end(source: str, index: int, output: _Output, start: int) -> int:
    """Consumes `](url)` at index, closing a text link; returns the index after it."""
    if not source.startswith("](", index):
        raise _reserved("]")
    position = index + 2
    url: list[str] = []
    while position < len(source) and source[position] != ")":
        if source[position] == "\\" and position + 1 < len(source):
            position += 1
        url.append(source[position])
        position += 1
    if position >= len(source):
        raise parse_error("Can't find end of a URL")
    output.add_entity("text_link", start, {"url": "".join(url)})
    return position + 1


def apply_parse_mode(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Returns the text as Telegram stores it and the entities it derived."""
    mode = (parse_mode or "").strip().lower()
    if mode == "":
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return text, []  # legacy Markdown is accepted but not interpreted
    raise bad_request("unsupported parse_mode")
