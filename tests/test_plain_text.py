"""File names shown through Markdown widgets render as exactly their characters: no links, images, HTML."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from fer_core.plain_text import escape_markdown

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
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(escape_markdown(name))
    assert "<a" not in html and "<img" not in html and "<strong" not in html and "<em" not in html
    assert "<code" not in html and "<h1" not in html and "<ol" not in html and "<blockquote" not in html
    from html import unescape

    assert unescape(html.removeprefix("<p>").removesuffix("</p>\n")) == name


def test_streamlit_extensions_and_line_breaks_are_disarmed():
    assert escape_markdown(":red[alarm] $x^2$") == r"\:red\[alarm\] \$x\^2\$"
    assert escape_markdown("two\nlines.png") == r"two lines\.png"
    assert escape_markdown("plain name 123") == "plain name 123"
