"""fer_core.core.plain_text.plain: user-supplied text reaches Streamlit's Markdown as itself, never as markup."""

from __future__ import annotations

import html
import re

import pytest
from factories import make_records
from markdown_it import MarkdownIt
from conftest import HOSTILE_NAME, rendered_markdown

from fer_core.app.charts import shares_figure
from fer_core.core.plain_text import WORD_JOINER, plain, plain_label


@pytest.mark.parametrize("text", [
    HOSTILE_NAME + ".mp4", "<https://x.example>", "mail me@x.example", "&lt;b&gt; &#x41;", "`code` *em* ~~s~~",
    "# heading", "1. intro.png", "2) b", "- item", "> quote", "=== underline", "_secret_ __init__.py",
    "a\\[b\\](c)", "WWW.EVIL.EXAMPLE", "| a | b |", ":red[x] $x^2$",
])
def test_shown_exactly_as_typed_with_no_markup(text):
    shown, active = rendered_markdown(plain(text))
    assert shown.replace(WORD_JOINER, "") == text and not active


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

    assert unescape(html.removeprefix("<p>").removesuffix("</p>\n")).replace(WORD_JOINER, "") == name


def streamlit_rewrites(source: str) -> list[str]:
    """What Streamlit's renderer (StreamlitMarkdown, 1.67) turns into something else beyond CommonMark.

    Most of it happens to the text after Markdown has read it, escapes already gone, so no backslash
    stops it: ':material/' is renamed in the source itself, remark-directive makes ':red' (unless its ':'
    is escaped) a coloured span and drops the text, GFM's autolink transform links addresses,
    remark-emoji and the logo and icon plugins replace ':name:', and ' -> ' and the like become symbols."""
    source = source.replace(":material/", ":material_")
    found = [f"directive {m.group()!r}" for m in re.finditer(r"(?<![\\:]):[A-Za-z][\w-]*", source)]
    text, _ = rendered_markdown(source, keep_joiners=True)  # the renderer sees the joiners
    rewrites = {
        "address": r"(?<![A-Za-z0-9])(?:https?://|www\.)[-.\w]+|[-.\w+]+@[-\w]+(?:\.[-\w]+)+",
        "emoji or icon": r":\+1:|:-1:|:[\w-]+:",
        "symbol": r"(?:^|(?<=\s))(?:<->|->|<-|--|>=|<=|~=)(?=\s|$)",
    }
    found += [f"{kind} {m.group()!r}" for kind, rx in rewrites.items() for m in re.finditer(rx, text, re.I)]
    return found


def test_the_model_of_streamlit_sees_what_a_backslash_does_not_stop():
    for escaped in ("https\\://evil.example", "www\\.evil.example", "me\\@x.example", "\\:smile:", ":red\\[x\\]",
                    "\\:material/home:", "a -\\> b"):
        assert streamlit_rewrites(escaped), escaped
    assert not streamlit_rewrites("model_config.json (10.0 min), time: 10 s - ok")


@pytest.mark.parametrize("text", [
    "https://evil.example/x.png", "see www.evil.example now", "HTTP://EVIL.EXAMPLE", "mailto:me@x.example",
    "mail me@x.example", ":smile: and :+1:", ":material/home: icon", ":streamlit: logo", ":red[red] :red-background[x]",
    ":small[s] :help[h] a:red", "note:blue.png", "a -> b <-> c -- d >= e <= f ~= g", HOSTILE_NAME + ".mp4",
])
def test_streamlit_renders_nothing_in_plain_text(text):
    out = plain(text)
    shown, active = rendered_markdown(out)
    assert not active and not streamlit_rewrites(out)
    assert shown.replace(WORD_JOINER, "") == text  # the joiner is invisible: the name reads as typed


@pytest.mark.parametrize("text, seen", [
    ("evil\u202etxt.exe", "evil<U+202E>txt.exe"),  # right-to-left override: would show 'evilexe.txt'
    ("a\u2066b\u2069c\u200fd\u061ce", "a<U+2066>b<U+2069>c<U+200F>d<U+061C>e"),
    ("zero\u200bwidth\ufeff\u00ad", "zero<U+200B>width<U+FEFF><U+00AD>"),
    ("title\x1b]0;x\x07 nul\x00 del\x7f c1\x85", "title\u241b]0;x\u2407 nul\u2400 del\u2421 c1<U+0085>"),
    ("undecodable \udcff byte", "undecodable <U+DCFF> byte"),
    ("family \U0001F469\u200d\U0001F4BB", "family \U0001F469\u200d\U0001F4BB"),  # joiners of emoji stay
])
def test_hidden_characters_are_made_visible(text, seen):
    shown, active = rendered_markdown(plain(text))
    assert shown.replace(WORD_JOINER, "") == seen and not active
    assert plain_label(text) == html.escape(seen, quote=False)


@pytest.mark.parametrize("source", [
    '<a href="https://evil.example">click</a>', "<b>bold</b><br>line", "&lt;not a tag&gt; &#65;", "evil\u202etxt",
])
def test_compare_chart_legend_shows_the_stored_source_as_text(source):
    """History's compare chart names each session by its stored source; plotly renders a little HTML there."""
    fig = shares_figure({f"#1 {source}": make_records(["happy"] * 2), "#2 video": make_records(["sad"])})
    legend = [t for t in fig.data if t.showlegend is not False]  # each session: its bars and a legend entry
    name = legend[0].name
    assert "<" not in name and ">" not in name and "\u202e" not in name  # no tag: no link, no bold, no line break
    assert html.unescape(name) == "#1 " + source.replace("\u202e", "<U+202E>")  # entities only spell the text
    assert {t.name for t in fig.data if t.legendgroup == legend[0].legendgroup} == {name}  # the bars too
    assert legend[1].name == "#2 video"
