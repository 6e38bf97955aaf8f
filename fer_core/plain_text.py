"""User-supplied text (file names) inside Streamlit's Markdown widgets, shown as the plain text it is.

st.error, st.warning, st.subheader and progress texts render Markdown: a file named
``[click me](https://evil.example/x)![](http://host/x.png).mp4`` became a link and a remote image.
Every ASCII punctuation character is backslash-escaped (CommonMark shows escaped ones literally),
which also disarms Streamlit's ``:colour[...]`` and ``$math$`` extensions; line breaks become spaces.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def escape_markdown(text: str) -> str:
    """``text`` such that Markdown renders exactly its characters."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(text).splitlines()))
