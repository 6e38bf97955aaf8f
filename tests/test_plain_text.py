"""fer_core.plain_text.plain: user-supplied text reaches Streamlit's Markdown as itself, never as markup."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt
from conftest import HOSTILE_NAME, rendered_markdown

from fer_core.plain_text import plain


@pytest.mark.parametrize("text", [
    HOSTILE_NAME + ".mp4", "<https://x.example>", "mail me@x.example", "&lt;b&gt; &#x41;", "`code` *em* ~~s~~",
    "# heading", "1. intro.png", "2) b", "- item", "> quote", "=== underline", "_secret_ __init__.py",
    "a\\[b\\](c)", "WWW.EVIL.EXAMPLE", "| a | b |", ":red[x] $x^2$",
])
def test_shown_exactly_as_typed_with_no_markup(text):
    shown, active = rendered_markdown(plain(text))
    assert shown == text and not active


def test_ordinary_names_stay_readable_and_text_stays_on_one_line():
    assert plain("model_config.json (10.0 min)") == "model_config.json (10.0 min)"
    assert plain("two\nlines\t here") == "two lines here"


NAMES = [
    "[click me](https://evil.example/x)![](http://host/x.png).mp4",
    "<img src=x onerror=alert(1)>.png",
    "**bold** _it_ `code` ~~gone~~.jpg",
    "# heading.png",
    "1. list.png",
    "> quote | table | row.webp",
    "a\\b\\\\c.png",
    "<https://evil.example>.png",
]


@pytest.mark.parametrize("name", NAMES)
def test_renders_as_the_same_text(name):
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(plain(name))
    assert "<a" not in html and "<img" not in html and "<strong" not in html and "<em" not in html
    assert "<code" not in html and "<h1" not in html and "<ol" not in html and "<blockquote" not in html
    from html import unescape

    assert unescape(html.removeprefix("<p>").removesuffix("</p>\n")) == name
