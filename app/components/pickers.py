"""Selectors shared by the pages, and the selection they carry from one page to the next.

Saving a dataset version, starting a job, finishing a generation or a report remembers the
object in ``st.session_state`` (``remember``); the next page's selector starts on it. So the
journey Data -> Profile -> Train -> Jobs -> Generate -> Quality needs no re-picking.

``pick_dataset_version`` is the top of a page that works on one dataset version (Profile,
Train): list the versions, say what to do first when there are none, pick one, read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import streamlit as st

from app.components.acting import Acting, attempt, start_here
from infra.services import dataset_store
from infra.services.dataset_store import VersionDetail

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


def pick_dataset_version(who: Acting, *, key: str, first_step: str,
                         preview_rows: int = dataset_store.PREVIEW_ROWS) -> VersionDetail:
    """A selector over the workspace's dataset versions, and the chosen one read with its profile.

    ``first_step`` finishes the "Start here" sentence of a workspace with no dataset yet.
    ``preview_rows``: the first rows to read with it (0: none). The page stops here (after the
    message that says why) when there is nothing to pick or the version cannot be read.
    """
    datasets = attempt("listing the datasets", dataset_store.list_datasets, who.tenant, actor=who.actor)
    versions = [v for d in datasets or [] for v in d.versions]
    if not versions:
        if datasets is not None:
            start_here(f"save a table as a dataset on the Data page; {first_step}", go_to="data", label="Go to Data")
        st.stop()
    version = pick("Dataset version", versions, kind="dataset_version", key=key, ident=lambda v: v.id,
                   describe=lambda v: f"{v.label} · {v.origin}")
    detail = attempt("reading the profile", dataset_store.get_version, who.tenant, version_id=version.id,
                     actor=who.actor, preview_rows=preview_rows)
    if detail is None:
        st.stop()
    return detail


__all__ = ["SELECTED", "pick", "pick_dataset_version", "remember", "remembered"]
