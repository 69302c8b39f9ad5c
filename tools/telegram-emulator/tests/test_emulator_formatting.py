import pytest

from chime_emulator.errors import ApiError
from chime_emulator.formatting import apply_parse_mode, parse_html, parse_markdown_v2

pytestmark = pytest.mark.unit


def test_plain_text_is_untouched() -> None:
    assert apply_parse_mode("a.b! (c)", None) == ("a.b! (c)", [])


def test_html_is_stripped_into_entities() -> None:
    text, entities = parse_html('<b>Hi</b> <a href="https://x.y">you</a> &amp; me')
    assert text == "Hi you & me"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 3, "length": 3, "url": "https://x.y"},
    ]


def test_html_offsets_count_utf16_units() -> None:
    text, entities = parse_html("😀 <i>x</i>")
    assert text == "😀 x"
    assert entities == [{"type": "italic", "offset": 3, "length": 1}]


def test_html_pre_with_language() -> None:
    _, entities = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ('<span class="x">y</span>', 'Unsupported start tag "span" at byte offset 0'),
    ],
)
def test_html_errors(source: str, reason: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_html(source)
    assert caught.value.error_code == 400
    assert caught.value.description == f"Bad Request: can't parse entities: {reason}"


def test_markdown_v2_entities_and_escapes() -> None:
    text, entities = parse_markdown_v2(
        r"*bold* _it_ __under__ ~strike~ ||spoil|| `co\`de` [link](https://a.b/c\)d) 1\.5\!"
    )
    assert text == "bold it under strike spoil co`de link 1.5!"
    types = [entity["type"] for entity in entities]
    assert types == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "text_link",
    ]
    assert entities[-1]["url"] == "https://a.b/c)d"
    assert entities[0] == {"type": "bold", "offset": 0, "length": 4}


def test_markdown_v2_pre_block() -> None:
    text, entities = parse_markdown_v2("```python\nprint(1.5)\n```")
    assert text == "print(1.5)\n"
    assert entities == [{"type": "pre", "offset": 0, "length": 11, "language": "python"}]


@pytest.mark.parametrize("char", list("_*[]()~`>#+-=|{}.!"))
def test_markdown_v2_reserved_characters_must_be_escaped(char: str) -> None:
    escaped_text, _ = parse_markdown_v2(f"a\\{char}b")
    assert escaped_text == f"a{char}b"


@pytest.mark.parametrize("char", list("#+-=|{}.!()]"))
def test_markdown_v2_unescaped_reserved_character_is_an_error(char: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_markdown_v2(f"Price{char} 5")
    assert caught.value.description == (
        "Bad Request: can't parse entities: "
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def test_markdown_v2_unclosed_entity() -> None:
    with pytest.raises(ApiError) as caught:
        parse_markdown_v2("hi *there")
    assert caught.value.description == (
        "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 3"
    )


def test_unknown_parse_mode() -> None:
    with pytest.raises(ApiError) as caught:
        apply_parse_mode("x", "rst")
    assert caught.value.description == "Bad Request: unsupported parse_mode"


def test_legacy_markdown_is_accepted_as_is() -> None:
    assert apply_parse_mode("a.b", "Markdown") == ("a.b", [])
