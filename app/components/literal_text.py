"""Show text from uploaded data (column names, values, file names) literally, never as markup.

Streamlit renders Markdown in most places that take a string (st.markdown, st.error, labels,
captions) and supports its own directives in it (``:red[...]``, ``:material/icon:``, ``$math$``);
plotly renders a subset of HTML in titles, tick labels and hover text. Data must not be able
to add a link, an image, a heading or a colour to the page, so every such string passes
through one of these functions. Tables (st.dataframe) show cell text as-is and need neither
(their built-in "Download as CSV" is off, so no formula cell leaves through it: app/data_export.py).
"""

from __future__ import annotations

import html
import re
import string

_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f]+")


def shorten(value: object, *, limit: int = 80) -> str:
    """``str(value)`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = _LINE_BREAKS.sub(" ", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_literal(value: object, *, limit: int | None = None) -> str:
    """Text that Streamlit's Markdown shows character for character.

    Every ASCII punctuation character gets a backslash (CommonMark lets any of them be
    escaped), which disarms emphasis, links, images, raw HTML, entities, Streamlit's
    ``:directives:`` and ``$`` math; line breaks become spaces so nothing starts a block.
    """
    text = shorten(value, limit=limit) if limit else _LINE_BREAKS.sub(" ", str(value))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def plotly_literal(value: object, *, limit: int = 40) -> str:
    """Text that plotly shows as-is in titles, ticks and hovers (its pseudo-HTML escaped)."""
    return html.escape(shorten(value, limit=limit), quote=False)
