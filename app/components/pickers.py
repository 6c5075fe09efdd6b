"""Selectors shared by the pages, and the selection they carry from one page to the next.

Saving a dataset version, starting a job, finishing a generation or a report remembers the
object in ``st.session_state`` (``remember``); the next page's selector starts on it. So the
journey Data -> Profile -> Train -> Jobs -> Generate -> Quality needs no re-picking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import streamlit as st

T = TypeVar("T")

SELECTED = {
    "dataset_version": "workbench_dataset_version_id",
    "model_version": "workbench_model_version_id",
    "generated": "workbench_generated_id",
    "report": "workbench_report_id",
    "job": "workbench_job_id",
}


def remember(kind: str, object_id: str | None) -> None:
    """Make ``object_id`` the current ``kind`` (a key of ``SELECTED``) for the next pages.

    The selectors of that kind forget their own choice, so they start on ``object_id``.
    """
    st.session_state[SELECTED[kind]] = object_id
    for widget_key in st.session_state.get(_widgets_key(kind), ()):
        st.session_state.pop(widget_key, None)


def _widgets_key(kind: str) -> str:
    return f"{SELECTED[kind]}__widgets"


def remembered(kind: str) -> str | None:
    value = st.session_state.get(SELECTED[kind])
    return value if isinstance(value, str) else None


def pick(
    label: str,
    items: Sequence[T],
    *,
    kind: str,
    key: str,
    ident: Callable[[T], str],
    describe: Callable[[T], str],
    help: str | None = None,  # noqa: A002 - Streamlit's word
) -> T | None:
    """A selectbox over ``items`` that starts on the remembered ``kind`` and remembers the choice."""
    if not items:
        return None
    by_id = {ident(item): item for item in items}
    ids = list(by_id)
    current = remembered(kind)
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=lambda i: describe(by_id[i]), key=key, help=help)
    item = by_id.get(chosen, items[0])
    st.session_state[SELECTED[kind]] = ident(item)
    widgets = st.session_state.setdefault(_widgets_key(kind), [])
    if key not in widgets:
        widgets.append(key)
    return item


__all__ = ["SELECTED", "pick", "remember", "remembered"]
