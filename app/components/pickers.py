"""Selectors shared by the pages, and the selection they carry from one page to the next.

Saving a dataset version, starting a job, finishing a generation or a report remembers the
object in ``st.session_state`` (``remember``); the next page's selector starts on it. So the
journey Data -> Profile -> Train -> Jobs -> Generate -> Quality needs no re-picking.

A selector's own widget key is the one state of what it selects: ``pick`` returns the item the
widget holds. ``remember`` moves every selector of that kind to the new object the next time
it is drawn, by setting its widget value through ``st.session_state`` before the widget is
created; Streamlit then sends the browser the new value (a selector whose state was merely
dropped would keep showing, and sending back, the old choice).

``pick_dataset_version`` is the top of a page that works on one dataset version (Profile,
Train): list the versions, say what to do first when there are none, pick one, read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import streamlit as st

from app.components.acting import Acting, attempt, start_here
from infra.usecases import dataset_store
from infra.usecases.dataset_store import VersionDetail

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

    Every selector of that kind moves to ``object_id`` when it is next drawn (see ``pick``).
    """
    st.session_state[SELECTED[kind]] = object_id
    st.session_state[_synced_key(kind)] = set()


def _synced_key(kind: str) -> str:
    """Where the widget keys that already show the remembered ``kind`` are listed."""
    return f"{SELECTED[kind]}__synced"


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
    """A selectbox over ``items`` whose widget key ``key`` holds the chosen id; it remembers the choice.

    It starts on the remembered ``kind`` and moves to an object remembered since it was last
    drawn; otherwise it keeps the user's choice (the first item when that choice is gone).
    """
    if not items:
        return None
    by_id = {ident(item): item for item in items}
    ids = list(by_id)
    labels = option_labels(ids, [describe(by_id[i]) for i in ids])
    current = remembered(kind)
    synced: set[str] = st.session_state.setdefault(_synced_key(kind), set())
    shown = st.session_state.get(key)
    if current in ids and (key not in synced or shown not in ids):
        st.session_state[key] = current
    elif shown not in ids:
        st.session_state[key] = ids[0]
    elif st.session_state.get(_label_key(key)) != labels[shown]:
        st.session_state[key] = shown  # same item, new words: send the browser the new label
    chosen = st.selectbox(label, ids, format_func=lambda i: labels.get(i, str(i)), key=key, help=help)
    item = by_id.get(chosen, items[0])
    st.session_state[SELECTED[kind]] = ident(item)
    st.session_state[_label_key(key)] = labels[ident(item)]
    synced.add(key)  # it shows the remembered object now; only a new ``remember`` moves it again
    return item


def option_labels(ids: Sequence[str], texts: Sequence[str]) -> dict[str, str]:
    """``{id: text}``, where a text shared by several ids gets the id's first 8 characters added.

    A selectbox travels between the browser and the server by its label: two options with the
    same label would be one option.
    """
    counts: dict[str, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    return {i: (f"{text} · {i[:8]}" if counts[text] > 1 else text) for i, text in zip(ids, texts)}


def _label_key(key: str) -> str:
    return f"{key}__label"


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


__all__ = ["SELECTED", "option_labels", "pick", "pick_dataset_version", "remember", "remembered"]
