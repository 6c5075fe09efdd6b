"""A page that changed something re-reads it: save, remember the outcome, rerun, then say it.

A Streamlit page draws top to bottom, so a save made by a button below a selector or a table
lands after they were drawn from the old state: the page would say "Saved as adult v2" under
v1 and its pending edits, or "budget saved" under "no privacy budget yet". ``rerun_with``
keeps the success message in the session and reruns the page at once, so every part of it
is drawn again from what is stored now (a selector moved by ``pickers.remember`` shows the new
object); ``show_saved`` then shows the message once, where the page calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import streamlit as st

from app.components.acting import link_to

_PREFIX = "after_save__"


@dataclass(frozen=True)
class SavedNotice:
    """What a save says after the rerun: its message and, optionally, a next page to link to."""

    message: str
    link_to: str | None = None
    link_label: str | None = None
    link_icon: str = ":material/arrow_forward:"


def rerun_with(page_key: str, notice: SavedNotice) -> NoReturn:
    """Keep ``notice`` for the page ``page_key`` and rerun the script now (nothing below runs)."""
    st.session_state[_PREFIX + page_key] = notice
    st.rerun()


def show_saved(page_key: str) -> SavedNotice | None:
    """Show (and forget) the notice ``rerun_with`` kept for ``page_key``; returns it, or None."""
    notice = st.session_state.pop(_PREFIX + page_key, None)
    if not isinstance(notice, SavedNotice):
        return None
    st.success(notice.message, icon=":material/check_circle:")
    if notice.link_to is not None:
        link_to(notice.link_to, notice.link_label or notice.link_to, icon=notice.link_icon)
    return notice


__all__ = ["SavedNotice", "rerun_with", "show_saved"]
