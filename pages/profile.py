"""Profile: a stored dataset version's profile, with its schema editable.

A version of several related tables shows its schema as a graph, the relations between its
tables (keep, remove, change or add them; saving makes the next version with those keys) and
each table's profile in a tab. A single table may be saved as a table of histories (its entity,
time and context columns: ``app.components.sequence_roles_view``).

A user corrects a column's type, or marks it as a key, as personal data or to drop; saving
makes the next version of the dataset (versions are immutable) with those edits, which
training then follows. Everything else — charts, personal-data findings, keys, warnings, the
recommended model — is the profile as ``app.components.profile_view`` draws it.
"""

from __future__ import annotations

import streamlit as st

from app.components.acting import Acting, acting, attempt, link_to
from app.components.after_save import SavedNotice, rerun_with, show_saved
from app.components.literal_text import markdown_literal
from app.components.pickers import pick_dataset_version, remember
from app.components.profile_view import render_profile, table_height
from app.components.schema_editor import TYPE_HELP, edits_from, schema_editor
from app.components.schema_graph import edited_keys, relation_rows, relations_editor, relations_frame, render_schema_graph
from app.components.sequence_roles_view import render_sequence_roles
from infra.usecases import dataset_store, schema_store
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


def render_schema_version(detail: dataset_store.VersionDetail, who: Acting) -> None:
    """A schema version: its graph, its relations to keep, change or add, and each table's profile in a tab."""
    version = detail.summary
    keys = version.source.get("keys") or {}
    primary_keys = dict(keys.get("primary_keys") or {})
    rows = relation_rows(detail.relations)
    st.subheader("Schema", anchor="schema-graph")
    st.caption(f"{len(version.table_names)} related tables, {version.n_rows or 0:,} rows in all; keys "
               f"{markdown_literal(str(version.source.get('keys_from', 'declared')))}.")
    render_schema_graph(tables=version.source.get("tables") or {}, primary_keys=primary_keys, relations=rows)
    for note in detail.profile_dict.get("notes") or []:
        st.caption(markdown_literal(str(note)))

    st.subheader("Relations", anchor="relations")
    st.dataframe(relations_frame(rows), hide_index=True,
                 column_config={"confidence": st.column_config.NumberColumn(format="%.2f")})
    if who.allows("member"):
        st.caption("Keep or remove each relation, change or add one, then save: training uses the saved relations. "
                   "Saving makes the next version of the dataset (the same tables, these relations).")
        if version.source.get("keys_from") != "declared":
            st.info("Some of these keys were inferred from the data. Saving them, changed or not, confirms them as "
                    "declared keys; training with differential privacy needs declared keys.", icon=":material/info:")
        columns = {name: list(profile.columns) for name, profile in detail.table_profiles.items()}
        editor_key = f"relations_{version.id}"
        kept, added = relations_editor(rows=rows, columns=columns, key=editor_key)
        chosen = edited_keys(primary_keys=primary_keys, rows=rows, kept=kept, added=added)
        if st.button("Save relations", type="primary", icon=":material/save:", key="relations_save"):
            with st.spinner("Checking the relations against the tables…", show_time=True):
                stored = attempt("saving the relations", schema_store.save_keys, who.tenant, version_id=version.id,
                                 keys=chosen, actor=who.actor)
            if stored is not None:
                remember("dataset_version", stored.version_id)
                st.session_state.pop(f"{editor_key}_added", None)
                said = "Saved as" if stored.created else "These relations already are"
                rerun_with("profile", SavedNotice(
                    f"{said} {markdown_literal(stored.dataset_name)} v{stored.version}; it is shown below.",
                    link_to="train", link_label="Train a model on it", link_icon=":material/model_training:"))

    st.divider()
    names = [n for n in version.table_names if n in detail.table_profiles]
    for name, tab in zip(names, st.tabs(names)):
        with tab:
            render_profile(detail.table_profiles[name], key=f"profile_{name}")
            preview = detail.previews.get(name)
            if preview is not None and preview.height:
                st.subheader("First rows", anchor=False)
                st.dataframe(preview, hide_index=True, height=table_height(preview.height))


st.title("Profile")
who = acting()

detail = pick_dataset_version(
    who, key="profile_version", first_step="its profile shows here, with the types you can correct.")
version = detail.summary
show_saved("profile")  # after a save: the page shows the new version, and says so here

if version.is_schema:
    render_schema_version(detail, who)
    link_to("train", "Next: train a model on this version", icon=":material/model_training:")
    st.stop()

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
render_sequence_roles(detail, who)
st.divider()
render_profile(detail.profile)
if detail.preview.height:
    st.subheader("First rows", anchor=False)
    st.dataframe(detail.preview, hide_index=True, height=table_height(detail.preview.height))
link_to("train", "Next: train a model on this version", icon=":material/model_training:")
