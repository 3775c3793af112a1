"""User-written text on a Markdown surface, shown as the very characters it holds.

Most of what the pages show goes through Markdown (st.markdown, st.caption, st.error … and the labels of buttons
and expanders). Text that people wrote — reasons, comments, names, branch names, object names, error messages that
quote input — must never become Markdown there: an image would make every reader's browser fetch an outside URL,
a link could pose as a sign-in. `literal` escapes it; where a page has no Markdown to mix it with, st.text,
st.code and dataframes show it as it is.
"""

from __future__ import annotations

import re

__all__ = ["code", "literal"]

# CommonMark lets a backslash escape every ASCII punctuation character, which then shows as itself. Escaping all of
# them leaves nothing that could open a construct: links, images, emphasis, headings, lists, HTML, autolinks
# (`https\://`, `www\.`, `a\@b`), Streamlit's `:color[…]`, `:material/…:` and `$…$`.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def literal(text: object) -> str:
    """`text` as Markdown that shows it literally, on one line (a line break becomes a space)."""
    return _PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text)))


def code(text: object) -> str:
    """`text` as an inline code span, fenced so that no backtick in it can end the span early."""
    value = _LINE_BREAKS.sub(" ", str(text))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"
