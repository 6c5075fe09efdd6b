"""Profile: a stored dataset version's profile, with its schema editable.

A user corrects a column's type, or marks it as a key, as personal data or to drop; saving
makes the next version of the dataset (versions are immutable) with those edits, which
training then follows. Everything else — charts, personal-data findings, keys, warnings, the
recommended model — is the profile as ``app.components.profile_view`` draws it.
"""

from __future__ import annotations

import streamlit as st

from app.components.acting import acting, attempt, link_to
from app.components.after_save import SavedNotice, rerun_with, show_saved
from app.components.literal_text import markdown_literal
from app.components.pickers import pick_dataset_version, remember
from app.components.profile_view import render_profile, table_height
from app.components.schema_editor import TYPE_HELP, edits_from, schema_editor
from infra.usecases import dataset_store
from infra.usecases.stored_profiles import ColumnEdits


def describe(edits: ColumnEdits, *, types: str, keys: str, removed: str) -> str:
    """``edits`` in one line, each kind of change after its word: ``type age → categorical; remove sex``."""
    parts = []
    if edits.types:
        parts.append(types + ", ".join(f"{k} → {v}" for k, v in edits.types.items()))
    if edits.keys:
        parts.append(keys + ", ".join(edits.keys))
    if edits.removed:
        parts.append(removed + ", ".join(edits.removed))
    return "; ".join(parts)


st.title("Profile")
who = acting()

detail = pick_dataset_version(
    who, key="profile_version", first_step="its profile shows here, with the types you can correct.")
version = detail.summary
show_saved("profile")  # after a save: the page shows the new version, and says so here

if not version.edits.is_empty:
    st.info("This version carries profile edits — "
            + markdown_literal(describe(version.edits, types="types set: ", keys="keys: ", removed="removed: ")),
            icon=":material/edit_note:")

st.subheader("Schema", anchor=False)
st.caption("Correct a type, or mark a column as a key (regenerated, never learned), as personal data or to drop "
           "(both removed before training). Saving makes the next version of the dataset. " + TYPE_HELP)
original, edited = schema_editor(detail.profile, key=f"schema_{version.id}")
changes = edits_from(original, edited)
if changes.is_empty:
    st.caption("No changes yet.")
else:
    st.markdown("**Changes:** " + markdown_literal(describe(changes, types="type ", keys="key ", removed="remove ")))
if who.allows("member") and st.button("Save the edits as a new version", type="primary", disabled=changes.is_empty,
                                      icon=":material/save:", key="profile_save"):
    with st.spinner("Saving the edited version…", show_time=True):
        stored = attempt("saving the edits", dataset_store.save_edits, who.tenant, version_id=version.id,
                         edits=changes, actor=who.actor)
    if stored is not None:
        remember("dataset_version", stored.version_id)  # the selector moves to the new version
        st.session_state.pop(f"schema_{version.id}", None)  # v1's pending edits are saved, not pending
        said = "Saved as" if stored.created else "These edits already are"
        rerun_with("profile", SavedNotice(
            f"{said} {markdown_literal(stored.dataset_name)} v{stored.version}; it is shown below.",
            link_to="train", link_label="Train a model on it", link_icon=":material/model_training:"))

st.divider()
render_profile(detail.profile)
if detail.preview.height:
    st.subheader("First rows", anchor=False)
    st.dataframe(detail.preview, hide_index=True, height=table_height(detail.preview.height))
link_to("train", "Next: train a model on this version", icon=":material/model_training:")
