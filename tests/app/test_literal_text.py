"""Text from uploaded data is shown literally: no Markdown, no HTML, no Streamlit directives."""

from __future__ import annotations

import re
import string

from app.components.literal_text import markdown_literal, plotly_literal, shorten

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "![tracker](https://example.com/p.png)",
    "**bold** _it_ `code` ~~gone~~",
    ":red[alarm] :material/home: :smile:",
    "$x^2$ and &lt; &#60;",
    "# heading",
    "a\\b",
]


def unescape(markdown: str) -> str:
    """What CommonMark shows for backslash-escaped punctuation."""
    return re.sub(r"\\([" + re.escape(string.punctuation) + "])", r"\1", markdown)


def test_markdown_literal_shows_the_same_characters():
    for text in HOSTILE:
        assert unescape(markdown_literal(text)) == text


def test_markdown_literal_leaves_no_punctuation_unescaped():
    for text in HOSTILE:
        escaped = markdown_literal(text)
        bare = re.sub(r"\\[" + re.escape(string.punctuation) + "]", "", escaped)
        assert not any(char in string.punctuation for char in bare), escaped


def test_markdown_literal_keeps_everything_on_one_line():
    assert "\n" not in markdown_literal("name\n# heading\r\n- item")


def test_plotly_literal_escapes_plotlys_html_subset():
    assert plotly_literal("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"


def test_long_values_are_cut_with_an_ellipsis():
    assert shorten("x" * 100, limit=10) == "x" * 9 + "…"
