"""The Generate page's histories part: how many histories, the seed, conditions on context columns, where to.

A sequence model (``model_type == "sequences"``) draws whole histories: the number asked for is
of entities (each with its own drawn length), the conditions fix the entity's static context
columns only (the builder of ``app.components.conditions_builder`` over those columns of the
profile of the dataset version the model learned), and the output is one long table (CSV or
Parquet) in the workspace, or one Parquet file in the workspace's own S3 folder. The job is
checked and queued by ``infra.usecases.sequence_generation``; the result is shown with a few
histories as line charts and the file to download.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app.components.acting import Acting, attempt
from app.components.conditions_builder import clear_conditions, columns_from_profile, conditions_builder, expression, generate_request
from app.components.literal_text import markdown_literal
from infra.usecases import dataset_store, outputs, sequence_generation
from infra.usecases.model_registry import ModelVersionView

OUTPUTS = {
    "parquet": "A Parquet file of all histories (compact, typed)",
    "csv": "A CSV file of all histories (spreadsheets)",
    "s3": "A Parquet file in the workspace's S3 bucket",
}
BUILDER_KEY = "generate_histories"


def is_sequence_version(version: Any) -> bool:
    """Whether a model version view is a sequence model's (histories)."""
    return sequence_generation.is_sequence_model(version)


def roles_text(version: ModelVersionView) -> str:
    """One sentence: what the model draws (entity over time, with which context), from its recorded roles."""
    learned = (version.metrics or {}).get("sequence") or {}
    context = ", ".join(learned.get("context") or []) or "none"
    lengths = (f", {learned['min_length']:,} to {learned['max_length']:,} steps each"
               if isinstance(learned.get("min_length"), int) and isinstance(learned.get("max_length"), int) else "")
    return (f"This model draws histories of {learned.get('entity', '?')} over {learned.get('order_by', '?')}"
            f"{lengths}; context columns (fixed per history): {context}.")


def sequence_generation_form(who: Acting, version: ModelVersionView) -> Any:
    """The number of histories, seed, output and context conditions, and the Generate button.

    Returns the job it started (None until Generate is pressed, or when the request is refused:
    the reason is shown).
    """
    st.caption(markdown_literal(roles_text(version)))
    learned = (version.metrics or {}).get("sequence") or {}
    cells = st.columns(3)
    n_entities = cells[0].number_input("Histories", min_value=1, max_value=sequence_generation.MAX_ENTITIES,
                                       value=int(learned.get("entities") or 100), step=10, key="generate_histories_n",
                                       help="How many entities to draw; each history's length is drawn too.")
    seed = cells[1].number_input("Seed", min_value=0, value=0, step=1, key="generate_histories_seed",
                                 help="The same model, number, conditions and seed give the same histories.")
    output = cells[2].selectbox("Output", list(OUTPUTS), format_func=OUTPUTS.get, key="generate_histories_output")
    destination = None
    if output == "s3":
        destination = st.text_input("S3 folder", placeholder="s3://bucket/folder", key="generate_histories_s3",
                                    help="The histories become <folder>/histories.parquet, written with the "
                                    "workspace's own S3 credentials (Settings).")
    st.caption("The workspace's rows-per-request limit counts the steps: the histories times their mean length.")
    st.subheader("Conditions", anchor=False)
    context = list(learned.get("context") or [])
    if not context:
        st.caption("This model learned no context column, so no condition can be set.")
        conditions: list[Any] = []
    else:
        st.caption("Only histories whose context meets every condition are drawn (for example one sector). "
                   "Conditions apply to the context columns, which stay the same along a history.")
        source = attempt("reading the model's columns", dataset_store.get_version, who.tenant,
                         version_id=version.dataset_version_id, actor=who.actor, preview_rows=0)
        columns = [c for c in columns_from_profile(source.profile) if c.name in context] if source is not None else []
        conditions = conditions_builder(columns, key=BUILDER_KEY)
        if conditions:
            st.markdown("**Expression**")
            st.code(expression(conditions), language="python")
            if st.button("Clear the conditions", key=f"{BUILDER_KEY}_clear", icon=":material/clear_all:"):
                clear_conditions(key=BUILDER_KEY)
                st.rerun()
    pressed = generate_request(who.allows("member"), conditions)
    if pressed is None:
        return None
    (request,) = pressed
    return attempt("starting the generation", sequence_generation.submit_sequence_generation, who.tenant,
                   model_version_id=version.id, actor=who.actor, n_entities=int(n_entities), seed=int(seed),
                   conditions=request, format="csv" if output == "csv" else "parquet",
                   destination=destination or None)


def is_histories(item: outputs.GeneratedItem) -> bool:
    """Whether a generated dataset holds histories (``params["kind"] == "sequences"``)."""
    return item.params.get("kind") == sequence_generation.SEQUENCE_KIND


def show_generated_histories(who: Acting, item: outputs.GeneratedItem, *, key: str = "generate") -> None:
    """Generated histories: how many, the first rows, the file to download (or where in S3 they went)."""
    entities, steps = item.params.get("entities"), item.params.get("steps", item.n_rows)
    where = f" where {item.conditions}" if item.conditions else ""
    st.success(markdown_literal(f"Generated {entities:,} histories ({steps:,} steps) of {item.source_label}{where}."),
               icon=":material/check_circle:")
    if item.destination:
        objects = item.params.get("objects") or []
        st.markdown("**Written to S3**\n" + "\n".join(f"- `{markdown_literal(o)}`" for o in objects))
        return
    preview = attempt("reading the first rows", outputs.preview_generated, who.tenant, generated_dataset_id=item.id,
                      actor=who.actor)
    if isinstance(preview, pl.DataFrame):
        st.markdown("**First rows**")
        st.dataframe(preview, hide_index=True)

    def _file(generated_id: str = item.id) -> bytes:
        return outputs.download_generated(who.tenant, generated_dataset_id=generated_id, actor=who.actor).data

    st.download_button(f"Download ({item.format}, {item.n_bytes / 1e6:.2f} MB)", data=_file,
                       file_name=f"synthetic-histories-{item.id[:8]}.{item.format}",
                       mime=outputs.MIME_TYPES.get(item.format), icon=":material/download:", key=f"{key}_download",
                       on_click="ignore")


__all__ = ["OUTPUTS", "is_histories", "is_sequence_version", "roles_text", "sequence_generation_form",
           "show_generated_histories"]
