"""The Generate page's schema part: how big, the seed, conditions, where to; then each generated table and the zip.

A schema's model (``model_type == "tables"``) generates every table at once: the size is a
scale of the real root tables (children follow their generated parents) or a number of rows of
one root table; conditions on a root table's columns are built with the single-table builder
(``app.components.conditions_builder``) over that table's real columns (the profile the
dataset version the model was trained on holds for it), and only root rows that meet them are
drawn, their children following; the output is a zip of CSV or Parquet (one file per table)
in the workspace, or one Parquet per table in the workspace's own S3 folder. The job itself is
checked and queued by ``infra.usecases.schema_generation``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.components.acting import Acting, attempt
from app.components.conditions_builder import (
    ColumnChoice,
    clear_conditions,
    columns_from_profile,
    conditions_builder,
    expression,
    generate_request,
)
from app.components.literal_text import markdown_literal
from infra.usecases import dataset_store, outputs, schema_generation
from infra.usecases.model_registry import ModelVersionView

OUTPUTS = {
    "zip-parquet": "A zip of Parquet files, one per table (compact, typed)",
    "zip-csv": "A zip of CSV files, one per table (spreadsheets)",
    "s3": "One Parquet file per table in the workspace's S3 bucket",
}
BY_SCALE = "(every root table by the scale)"
CONDITIONS_PREFIX = "generate_on"  # the builder of root table t keeps its rows under "generate_on_<t>"


def schema_tables(version: ModelVersionView) -> tuple[list[str], list[str]]:
    """(every table, the root tables) of a schema model version, from the keys it was trained with."""
    keys = (version.config or {}).get("keys") or {}
    parents = schema_generation.parents_of(keys)
    tables = list(dict.fromkeys([*(keys.get("primary_keys") or {}), *parents,
                                 *(p for ps in parents.values() for p in sorted(ps))]))
    return tables, [t for t in tables if not parents.get(t)]


def schema_generation_form(who: Acting, version: ModelVersionView) -> Any:
    """The size, seed, output and root table's conditions of a schema's generation, and its Generate button.

    Returns the job it started (None until Generate is pressed, or when the request is refused:
    the reason is shown). A condition the language cannot spell is refused here, as for one table.
    """
    tables, roots = schema_tables(version)
    if tables:
        st.caption(markdown_literal(f"This model generates {len(tables)} related tables: {', '.join(tables)} "
                                    f"(root tables: {', '.join(roots) or '—'}). Child rows follow their generated "
                                    "parents, and every foreign key points at a generated parent."))
    cells = st.columns(3)
    sized_by = cells[0].selectbox("Size", [BY_SCALE, *roots], key="generate_schema_size_by",
                                  format_func=lambda t: t if t == BY_SCALE else f"rows of {t}")
    if sized_by == BY_SCALE:
        scale = cells[1].number_input("Scale", min_value=0.01, max_value=float(schema_generation.MAX_SCALE), value=1.0,
                                      step=0.5, key="generate_scale",
                                      help="1.0 makes as many root rows as the real tables the model learned from; "
                                      "2.0 twice as many. Children follow their parents.")
        rows = None
    else:
        scale = 1.0
        rows = {sized_by: int(cells[1].number_input(f"Rows of {sized_by}", min_value=1, max_value=10_000_000,
                                                     value=1_000, step=100, key="generate_root_rows"))}
    seed = cells[2].number_input("Seed", min_value=0, value=0, step=1, key="generate_schema_seed",
                                 help="The same model, size and seed give the same tables.")
    output = st.selectbox("Output", list(OUTPUTS), format_func=OUTPUTS.get, key="generate_schema_output")
    destination = None
    if output == "s3":
        destination = st.text_input("S3 folder", placeholder="s3://bucket/folder", key="generate_s3_folder",
                                    help="Each table becomes <folder>/<table>.parquet, written with the workspace's "
                                    "own S3 credentials (Settings).")
    st.caption("The workspace's rows-per-request limit counts the rows of every table together.")
    root, conditions = _root_conditions(who, version, roots)
    pressed = generate_request(who.allows("member"), conditions)
    if pressed is None:
        return None
    (request,) = pressed
    return attempt("starting the generation", schema_generation.submit_schema_generation, who.tenant,
                   model_version_id=version.id, actor=who.actor, scale=float(scale), rows=rows, seed=int(seed),
                   conditions={root: request} if root and request is not None else None,
                   format="csv" if output == "zip-csv" else "parquet", destination=destination or None)


def root_columns(who: Acting, version: ModelVersionView, root: str) -> list[ColumnChoice]:
    """The columns a condition on ``root`` can use: that table's profile in the dataset version the model learned."""
    source = attempt("reading the root table's columns", dataset_store.get_version, who.tenant,
                     version_id=version.dataset_version_id, actor=who.actor, preview_rows=0)
    profile = (source.table_profiles or {}).get(root) if source is not None else None
    return columns_from_profile(profile) if profile is not None else []


def _root_conditions(who: Acting, version: ModelVersionView, roots: list[str]) -> tuple[str | None, list[Any]]:
    """The conditions section: the root table they apply to (when there are several) and its builder."""
    st.subheader("Conditions", anchor=False)
    if not roots:
        st.caption("This model names no root table, so no condition can be set.")
        return None, []
    st.caption("Only root rows that meet every condition are generated (for example, to add rare cases); their "
               "child rows follow them. Leave empty for tables like the training data.")
    root = roots[0] if len(roots) == 1 else st.selectbox(
        "Conditions on", roots, key="generate_condition_root",
        help="Conditions apply to one root table's columns: the one chosen here when you press Generate.")
    key = f"{CONDITIONS_PREFIX}_{root}"
    conditions = conditions_builder(root_columns(who, version, root), key=key)
    if conditions:
        st.markdown(f"**Expression on {markdown_literal(root)}**")
        st.code(expression(conditions), language="python")
        if st.button("Clear the conditions", key=f"{key}_clear", icon=":material/clear_all:"):
            clear_conditions(key=key)
            st.rerun()
    return root, conditions


def conditions_text(conditions: Any) -> str:
    """A generated schema's conditions as the page shows them: ``players: bats == 'L'`` (empty when none)."""
    if not isinstance(conditions, dict) or not conditions:
        return ""
    return "; ".join(f"{table}: {condition}" for table, condition in conditions.items())


def generated_label(item: outputs.GeneratedItem) -> str:
    """An item's label; a schema's with the root tables' conditions it was generated under (as one table's shows)."""
    where = conditions_text(item.conditions) if item.is_schema else ""
    return f"{item.label} where {where}" if where else item.label


def show_generated_schema(who: Acting, item: outputs.GeneratedItem, *, key: str = "generate") -> None:
    """A generated schema: where it is, the first rows of each table in tabs, and the zip to download."""
    per_table = ", ".join(f"{name} {rows:,}" for name, rows in item.tables.items())
    st.success(markdown_literal(f"Generated {generated_label(item)} — {per_table}."), icon=":material/check_circle:")
    if item.destination:
        objects = item.params.get("objects") or []
        st.markdown("**Written to S3**\n" + "\n".join(f"- `{markdown_literal(o)}`" for o in objects))
        return
    previews = attempt("reading the first rows", outputs.preview_tables, who.tenant, generated_dataset_id=item.id,
                       actor=who.actor)
    if previews:
        st.markdown("**First rows of each table**")
        for tab, (name, frame) in zip(st.tabs([markdown_literal(n) for n in previews]), previews.items()):
            with tab:
                st.dataframe(frame, hide_index=True)

    def _file(generated_id: str = item.id) -> bytes:
        return outputs.download_generated(who.tenant, generated_dataset_id=generated_id, actor=who.actor).data

    st.download_button(f"Download the tables (zip of {item.format}, {item.n_bytes / 1e6:.2f} MB)", data=_file,
                       file_name=f"synthetic-{item.id[:8]}-{item.format}.zip", mime=outputs.MIME_TYPES["zip"],
                       icon=":material/download:", key=f"{key}_download", on_click="ignore")


def is_schema_version(version: Any) -> bool:
    """Whether a model version view is a schema's model."""
    from infra.usecases.generation import SCHEMA_MODEL_TYPE

    return getattr(version, "model_type", None) == SCHEMA_MODEL_TYPE


__all__ = ["OUTPUTS", "conditions_text", "generated_label", "is_schema_version", "root_columns",
           "schema_generation_form", "schema_tables", "show_generated_schema"]
