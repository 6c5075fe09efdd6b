"""The product's name and its wordmark, shown at the top of the sidebar (``st.logo``).

One place for the name the browser tab, the sidebar and the pages use.
"""

from __future__ import annotations

from html import escape

PRODUCT_NAME = "Doppel"
PAGE_ICON = "🪞"
_INK = "#31333F"  # Streamlit's default text colour: readable on the light and the dark sidebar alike
_ACCENT = "#FF4B4B"


def wordmark_svg(name: str = PRODUCT_NAME) -> str:
    """An SVG wordmark (a mark and ``name`` as text) for ``st.logo``; its text is the product's name.

    Text, not a picture of text: it stays sharp at any size and a screen reader or a test reads it.
    """
    width = 40 + 17 * len(name)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="32" viewBox="0 0 {width} 32" '
        f'role="img" aria-label="{escape(name)}">'
        f'<title>{escape(name)}</title>'
        f'<circle cx="12" cy="16" r="9" fill="none" stroke="{_ACCENT}" stroke-width="3"/>'
        f'<circle cx="20" cy="16" r="9" fill="none" stroke="{_INK}" stroke-width="3" opacity="0.55"/>'
        f'<text x="36" y="23" font-family="Source Sans Pro, Helvetica, Arial, sans-serif" font-size="22" '
        f'font-weight="700" fill="{_INK}">{escape(name)}</text>'
        "</svg>"
    )


__all__ = ["PAGE_ICON", "PRODUCT_NAME", "wordmark_svg"]
