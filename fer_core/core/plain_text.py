"""User-supplied text (file names, labels) inside Streamlit's Markdown widgets, shown as the plain text it is.

st.error, st.warning, st.subheader, captions and progress texts render Markdown: a file named
``[click me](https://evil.example/x)![](http://host/x.png).mp4`` became a link and a remote image
on every later visit to History. ``plain`` backslash-escapes what would give the text a meaning
(CommonMark shows escaped characters literally), so ordinary names stay readable in the source.

A backslash is not enough for what Streamlit rewrites after Markdown has read the text (escapes are
gone by then): GitHub-flavoured Markdown links bare addresses, ``:smile:`` becomes an emoji,
``:material/...:`` and ``:streamlit:`` icons, ``:red`` a (here empty) coloured span, `` -> `` an arrow.
There ``plain`` puts an invisible WORD JOINER (U+2060) inside the trigger, so the text reads the same.
Characters that would otherwise be invisible or reorder the text (controls, U+202E and the other bidi
and format characters) are shown by their code, so a name cannot pose as another one.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Characters that give Markdown (CommonMark, GitHub's extensions, Streamlit's ":red[...]" and "$math$")
# a meaning wherever they stand; a backslash makes the parser show each as itself. Others ('.', '(')
# only matter next to these or at the start of a line, so ordinary names stay readable in the source.
_MARKUP = re.compile(r"([\\`*\[\]<>#$&~@|])")
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # '_' between letters never emphasises
_LINE_START = re.compile(r"^([-+=>]|\d+(?=[.)]))")  # a list, quote or underline when a block starts with it
WORD_JOINER = "\u2060"
# Where Streamlit's text rewrites start: a ':' before a name (emoji, icons, directives, 'https://'),
# 'www.' and an e-mail's '@'; and the symbols it draws for a free-standing '->', '<-', '--', '>=', '<=', '~='.
_REWRITE = re.compile(r"(?<=:)(?=\S)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
_SYMBOL = re.compile(r"(?<!\S)(<->|->|<-|--|>=|<=|~=)(?!\S)")
_KEPT_FORMAT = {"\u200c", "\u200d"}  # zero-width (non-)joiners: part of emoji sequences and of many scripts
_WHITESPACE_CONTROLS = set("\t\n\v\f\r")  # folded into one space with the rest of the whitespace


def visible(text: str) -> str:
    """``text`` with every control, format (bidi, zero-width) and lone surrogate character shown by its
    code ('<U+202E>'; C0 controls as their Control Pictures, '␛'), so none hides or reorders the rest."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc" and ch not in _WHITESPACE_CONTROLS:
            out.append(chr(0x2400 + ord(ch)) if ord(ch) < 0x20 else "\u2421" if ch == "\x7f" else f"<U+{ord(ch):04X}>")
        elif (cat == "Cf" and ch not in _KEPT_FORMAT) or cat == "Cs":
            out.append(f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    return "".join(out)


def plain(text: object) -> str:
    """User-supplied text (file names, labels, messages quoting them) made safe for Streamlit's Markdown:
    shown exactly as typed, never as a link, an image, HTML, a heading, an emoji, an icon or colour, with
    hidden characters made visible, on one line."""
    out = _REWRITE.sub(WORD_JOINER, " ".join(visible(str(text)).split()))
    out = _SYMBOL.sub(lambda m: m.group()[0] + WORD_JOINER + m.group()[1:], out)
    out = _MARKUP.sub(r"\\\1", out)
    out = _EDGE_UNDERSCORE.sub(r"\\_", out)
    m = _LINE_START.match(out)
    if m:
        end = m.end()
        out = out[:end] + "\\" + out[end:] if m.group()[0].isdigit() else "\\" + out
    return out


def plain_label(text: object) -> str:
    """User-supplied text for a plotly label (a legend entry, a title): plotly reads a little HTML there
    (``<a href>``, ``<b>``, ``<br>``, entities), so it is entity-escaped, hidden characters made visible."""
    return html.escape(" ".join(visible(str(text)).split()), quote=False)
