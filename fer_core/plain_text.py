"""User-supplied text (file names, labels) inside Streamlit's Markdown widgets, shown as the plain text it is.

st.error, st.warning, st.subheader, captions and progress texts render Markdown: a file named
``[click me](https://evil.example/x)![](http://host/x.png).mp4`` became a link and a remote image
on every later visit to History. ``plain`` backslash-escapes what would give the text a meaning
(CommonMark shows escaped characters literally), so ordinary names stay readable in the source.
"""

from __future__ import annotations

import re

# Characters that give Markdown (CommonMark, GitHub's extensions, Streamlit's ":red[...]" and "$math$")
# a meaning wherever they stand; a backslash makes the parser show each as itself. Others ('.', '(')
# only matter next to these or at the start of a line, so ordinary names stay readable in the source.
_MARKUP = re.compile(r"([\\`*\[\]<>#$&~@|])")
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # '_' between letters never emphasises
_BARE_LINK = re.compile(r"(://|www\.)", re.IGNORECASE)  # GitHub links bare addresses by themselves
_LINE_START = re.compile(r"^([-+=>]|\d+(?=[.)]))")  # a list, quote or underline when a block starts with it


def plain(text: object) -> str:
    """User-supplied text (file names, labels, messages quoting them) made safe for Streamlit's Markdown:
    shown exactly as typed, never as a link, an image, HTML, a heading or colour, on one line."""
    out = _MARKUP.sub(r"\\\1", " ".join(str(text).split()))
    out = _EDGE_UNDERSCORE.sub(r"\\_", out)
    out = _BARE_LINK.sub(lambda m: "\\:" + m.group()[1:] if m.group().startswith(":") else m.group()[:3] + "\\.", out)
    m = _LINE_START.match(out)
    if m:
        end = m.end()
        out = out[:end] + "\\" + out[end:] if m.group()[0].isdigit() else "\\" + out
    return out
