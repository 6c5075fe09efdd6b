"""The Generate page's schema part: how big, the seed, where to; then each generated table and the zip.

A schema's model (``model_type == "tables"``) generates every table at once: the size is a
scale of the real root tables (children follow their generated parents) or a number of rows of
one root table; the output is a zip of CSV or Parquet (one file per table) in the workspace, or
one Parquet per table in the workspace's own S3 folder. The job itself is checked and queued by
``infra.usecases.schema_generation``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.components.acting import Acting, attempt
from app.components.literal_text import markdown_literal
from infra.usecases import outputs, schema_generation
from infra.usecases.model_registry import ModelVersionView

OUTPUTS = {
    "zip-parquet": "A zip of Parquet files, one per table (compact, typed)",
    "zip-csv": "A zip of CSV files, one per table (spreadsheets)",
    "s3": "One Parquet file per table in the workspace's S3 bucket",
}
BY_SCALE = "(every root table by the scale)"


def schema_tables(version: ModelVersionView) -> tuple[list[str], list[str]]:
    """(every table, the root tables) of a schema model version, from the keys it was trained with."""
    keys = (version.config or {}).get("keys") or {}
    parents = schema_generation.parents_of(keys)
    tables = list(dict.fromkeys([*(keys.get("primary_keys") or {}), *parents,
                                 *(p for ps in parents.values() for p in sorted(ps))]))
    return tables, [t for t in tables if not parents.get(t)]


def schema_generation_form(who: Acting, version: ModelVersionView) -> Any:
    """The size, seed and output of a schema's generation, and its Generate button; the job it started."""
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
    if not (who.allows("member") and st.button("Generate", type="primary", icon=":material/auto_awesome:",
                                               key="generate_start")):
        return None
    return attempt("starting the generation", schema_generation.submit_schema_generation, who.tenant,
                   model_version_id=version.id, actor=who.actor, scale=float(scale), rows=rows, seed=int(seed),
                   format="csv" if output == "zip-csv" else "parquet", destination=destination or None)


def show_generated_schema(who: Acting, item: outputs.GeneratedItem, *, key: str = "generate") -> None:
    """A generated schema: where it is, the first rows of each table in tabs, and the zip to download."""
    per_table = ", ".join(f"{name} {rows:,}" for name, rows in item.tables.items())
    st.success(markdown_literal(f"Generated {item.label}: {per_table}."), icon=":material/check_circle:")
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


__all__ = ["OUTPUTS", "is_schema_version", "schema_generation_form", "schema_tables", "show_generated_schema"]
