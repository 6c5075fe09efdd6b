"""The Profile page's section for tables of histories: pick the entity, time and context columns, and save them.

A long table (one row per step of some entity's history: prices per company and day,
readings per station and hour) trains as histories once its roles are saved: the entity
column names whose history a row is, the time column orders its steps, the context columns
hold what is constant within an entity. The pickers start from what the profile suggests
(``infra.usecases.sequence_roles.suggest_sequence_roles``); saving checks the roles with the
engine and makes the next version of the dataset.
"""

from __future__ import annotations

import streamlit as st

from app.components.acting import Acting, attempt
from app.components.after_save import SavedNotice, rerun_with
from app.components.literal_text import markdown_literal
from app.components.pickers import remember
from infra.usecases import dataset_store
from infra.usecases.sequence_roles import SequenceRoles, save_sequence_roles, sequence_roles, suggested_roles

_EXPLAIN = ("A table of histories has one row per step of an entity's history — prices per company and day, "
            "readings per station and hour, visits per patient. Pick the column that names the entity, the one "
            "that orders its steps in time, and the columns that stay the same within an entity (its context; "
            "leave empty to let the training find them). Saved roles make the next version of the dataset, which "
            "then trains as histories: lengths, time gaps and each step given the ones before.")


def _suggestion(who: Acting, version_id: str) -> SequenceRoles | None:
    """What the profile suggests for this version, worked out once per session."""
    key = f"sequence_suggestion_{version_id}"
    if key not in st.session_state:
        st.session_state[key] = attempt("suggesting the roles of the columns", suggested_roles, who.tenant,
                                        version_id=version_id, actor=who.actor)
    return st.session_state[key]


def render_sequence_roles(detail: dataset_store.VersionDetail, who: Acting) -> None:
    """The section: the saved roles, or the pickers (pre-filled from the suggestion) and a Save button."""
    version = detail.summary
    saved = sequence_roles(version.source)
    st.subheader("Histories", anchor="histories")
    if saved is not None:
        context = ", ".join(saved.context) or "found by the training (columns constant within an entity)"
        st.success(f"This version is a table of histories: entity **{markdown_literal(saved.entity)}**, time "
                   f"**{markdown_literal(saved.order_by)}**, context {markdown_literal(context)}. It trains as "
                   "histories.", icon=":material/timeline:")
    suggestion = saved or _suggestion(who, version.id)
    if saved is None and suggestion is not None:
        st.info(f"This table looks like histories of **{markdown_literal(suggestion.entity)}** over "
                f"**{markdown_literal(suggestion.order_by)}**. Save the roles below to train it as histories.",
                icon=":material/timeline:")
    if not who.allows("member"):
        return
    with st.expander("Change the roles" if saved else "Train this table as histories", expanded=False):
        st.caption(_EXPLAIN)
        columns = list(detail.profile.columns) if detail.profile is not None else list(detail.preview.columns)
        key = f"sequence_roles_{version.id}"
        entity = st.selectbox("Entity column", columns, key=f"{key}_entity",
                              index=columns.index(suggestion.entity) if suggestion and suggestion.entity in columns else 0,
                              help="Whose history a row belongs to (a company, a station, a patient).")
        times = [c for c in columns if c != entity]
        order_by = st.selectbox("Time column", times, key=f"{key}_time",
                                index=times.index(suggestion.order_by) if suggestion and suggestion.order_by in times else 0,
                                help="What orders the steps: a date, a datetime or a step number.")
        others = [c for c in columns if c not in (entity, order_by)]
        context = st.multiselect("Context columns", others, key=f"{key}_context",
                                 default=[c for c in (suggestion.context if suggestion else ()) if c in others],
                                 help="Columns with one value per entity (its sector, its location).")
        if st.button("Save as histories", type="primary", icon=":material/save:", key=f"{key}_save"):
            with st.spinner("Checking the roles against the table…", show_time=True):
                stored = attempt("saving the roles", save_sequence_roles, who.tenant, version_id=version.id,
                                 entity=entity, order_by=order_by, context=context, actor=who.actor)
            if stored is not None:
                remember("dataset_version", stored.version_id)
                said = "Saved as" if stored.created else "These roles already are"
                rerun_with("profile", SavedNotice(
                    f"{said} {markdown_literal(stored.dataset_name)} v{stored.version}; it is shown below.",
                    link_to="train", link_label="Train it as histories", link_icon=":material/model_training:"))
