"""Long formatted text is split without breaking a tag or an entity: every part parses on its
own, fits, and shows the same text with the same formatting."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_sender.domain.formatting import utf16_len
from chime_sender.domain.markup import split_formatted
from chime_sender.domain.messages import parts_of, render

pytestmark = pytest.mark.unit

TAG = re.compile(r"<(/?)([a-z-]+)[^>]*>")


def balanced_html(part: str) -> bool:
    stack: list[str] = []
    for m in TAG.finditer(part):
        if m.group(1):
            if not stack or stack.pop() != m.group(2):
                return False
        else:
            stack.append(m.group(2))
    # No cut inside a tag or a character reference.
    return not stack and part.count("<") == part.count(">") and not re.search(r"&[a-z]*$", part)


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


words = st.sampled_from(["alpha", "beta", "gamma", "&amp;", "&lt;x&gt;", "😀", "δ", "word."])
OPEN = {"b": "<b>", "i": "<i>", "a": '<a href="https://x.y/z?q=1 2">', "code": "<code>"}


@st.composite
def html(draw: st.DrawFn, depth: int = 0) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 8))):
        if depth < 3 and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(OPEN)))
            pieces.append(OPEN[name] + draw(html(depth + 1)) + f"</{name}>")
        else:
            pieces.append(" ".join(draw(st.lists(words, min_size=1, max_size=12))))
        pieces.append(draw(st.sampled_from([" ", "\n", "\n\n", ". "])))
    return "".join(pieces)


@settings(max_examples=120, deadline=None)
@given(html(), st.integers(200, 600))  # room for the deepest tags' re-opening
def test_html_parts_fit_parse_and_keep_the_text(text: str, limit: int) -> None:
    parts = split_formatted(text, "HTML", limit)
    assert all(utf16_len(p) <= limit for p in parts), parts
    assert all(balanced_html(p) for p in parts), parts
    assert "".join(plain(p) for p in parts) == plain(text)


def test_an_open_tag_is_closed_and_reopened_across_a_cut() -> None:
    text = "<b>" + "bold words " * 10 + "</b>"
    first, second = split_formatted(text, "HTML", 70)
    assert (first[:3], first[-4:], second[:3], second[-4:]) == ("<b>", "</b>", "<b>", "</b>")


def test_markdown_v2_entities_and_links_survive_a_cut() -> None:
    text = "*bold " + "and more " * 8 + "still bold* [a link](https://x.y/a_b) _it_"
    parts = split_formatted(text, "MarkdownV2", 60)
    assert (parts[0][-1], parts[1][0]) == ("*", "*")
    assert sum("[a link](https://x.y/a_b)" in p for p in parts) == 1
    assert all(utf16_len(p) <= 60 for p in parts)
    escaped = "a\\." * 40
    assert all(not p.endswith("\\") for p in split_formatted(escaped, "MarkdownV2", 25))


def test_a_pre_block_reopens_with_its_language() -> None:
    text = "```python\n" + "x = 1\n" * 30 + "```"
    parts = split_formatted(text, "MarkdownV2", 80)
    assert len(parts) > 1
    assert all(p.startswith("```python\n") and p.endswith("```") for p in parts)


hostile = st.text(alphabet=st.sampled_from(list("<>&\"'*_[]()~`#+-=|{}.!\\ab {}")), max_size=40)


@settings(max_examples=120, deadline=None)
@given(hostile)
def test_variables_are_escaped_the_template_is_not(value: str) -> None:
    html_out = render("<b>Hi</b> {name}!", {"name": value}, "HTML")
    assert html_out.startswith("<b>Hi</b> ")
    assert balanced_html(html_out)
    assert plain(html_out).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == (
        f"Hi {value}!"
    )
    md = render("*Hi* {name}", {"name": value}, "MarkdownV2")
    body = md[len("*Hi* ") :]
    assert re.sub(r"\\(.)", r"\1", body) == value
    assert not re.search(r"(?<!\\)[_*\[\]()~`>#+\-=|{}.!]", body.replace("\\\\", ""))


def test_placeholders_without_a_variable_stay_and_plain_text_is_not_escaped() -> None:
    assert render("{a} {b}", {"a": "<x>"}, None) == "<x> {b}"
    assert render("{a}", {"a": "1.5"}, "MarkdownV2") == "1\\.5"
    assert render("no {vars}", None, "HTML") == "no {vars}"


def test_captions_split_shorter_than_messages() -> None:
    long = "word " * 500
    assert len(parts_of(long, "sendPhoto")) == 3
    assert len(parts_of(long, "sendMessage")) == 1
    assert parts_of("edit " * 2000, "editMessageText") == ["edit " * 2000]
