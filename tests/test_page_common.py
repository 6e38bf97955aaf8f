"""pages._common.plain: user-supplied text reaches Streamlit's Markdown as itself, never as markup."""

from __future__ import annotations

import pytest
from conftest import HOSTILE_NAME, rendered_markdown

from pages._common import plain


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
