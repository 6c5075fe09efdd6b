"""Generate: synthetic rows from a model version — how many, the seed, conditions, the file format.

The conditions builder adds column / operator / value rows and shows the expression they
make. The job runs in the background with its progress here; when it ends the page shows the
first rows and offers the file for download.

A schema's model (related tables) asks instead for a size (a scale, or rows of a root table),
the seed, conditions on a root table's columns (the same builder) and the output (a zip of CSV
or Parquet, or one Parquet per table to S3), and shows each generated table in a tab
(``app.components.schema_generation_view``).

A sequence model (histories) asks for a number of histories, the seed, conditions on its context
columns and the output (CSV or Parquet here, or Parquet to S3), and shows the histories drawn
(``app.components.sequence_generation_view``).
"""

from __future__ import annotations

import streamlit as st

from app.components.acting import acting, attempt, link_to, start_here
from app.components.conditions_builder import clear_conditions, columns_from_profile, conditions_builder, expression, request_form
from app.components.job_status import follow_job
from app.components.literal_text import markdown_literal
from app.components.pickers import pick, remember
from app.components.schema_generation_view import (
    generated_label,
    is_schema_version,
    schema_generation_form,
    show_generated_schema,
)
from app.components.sequence_generation_view import (
    is_histories,
    is_sequence_version,
    sequence_generation_form,
    show_generated_histories,
)
from infra.usecases import dataset_store, job_requests, model_registry, outputs

FORMATS = {"parquet": "Parquet (compact, typed)", "csv": "CSV (spreadsheets)", "ndjson": "NDJSON (one JSON object a line)"}
LAST_JOB_KEY = "generate_last_job_id"
BUILDER_KEY = "generate"

st.title("Generate")
who = acting()

versions = attempt("listing the models", model_registry.ready_versions, who.tenant, actor=who.actor)
if versions is not None and not versions:
    start_here("train a model on the Train page (or set a model version back to ready on Models); then generate "
               "synthetic rows from it here.", go_to="train", label="Go to Train")
    st.stop()
if not versions:
    st.stop()

version = pick("Model version", versions, kind="model_version", key="generate_version", ident=lambda v: v.id,
               describe=lambda v: f"{v.label} · {v.model_type} · trained on {v.dataset_name} v{v.dataset_version}")


def _follow(job_id: str) -> str | None:
    """Draw the last generation job; the generated dataset's id once it succeeded."""
    st.subheader("Generation", anchor=False)
    job = follow_job(job_id, key="generate_job")
    return job.result.get("generated_dataset_id") if job is not None and job.state == "succeeded" else None


def _earlier(model_version_id: str) -> None:
    earlier = attempt("listing earlier generations", outputs.list_generated, who.tenant, actor=who.actor,
                      model_version_id=model_version_id) or []
    if earlier:
        with st.expander(f"Earlier generations from this model ({len(earlier)})"):
            for item in earlier:
                st.caption(markdown_literal(generated_label(item)))


def _whole_model_page(form, is_kind, show) -> None:  # noqa: ANN001 - the view functions of one kind of model
    """The page for a model that generates a whole dataset (a schema, histories): its form, its last job, its result."""
    job = form(who, version)
    if job is not None:
        st.session_state[LAST_JOB_KEY] = job.id
        remember("job", job.id)
    last_job = st.session_state.get(LAST_JOB_KEY)
    generated_id = _follow(last_job) if last_job else None
    if generated_id:
        remember("generated", generated_id)
        item = attempt("reading the generated data", outputs.get_generated, who.tenant,
                       generated_dataset_id=generated_id, actor=who.actor)
        if item is not None and is_kind(item):
            show(who, item)
            if not item.destination:
                link_to("quality", "Next: assess its quality", icon=":material/fact_check:")
    _earlier(version.id)
    st.stop()


if is_sequence_version(version):
    _whole_model_page(sequence_generation_form, is_histories, show_generated_histories)
if is_schema_version(version):
    _whole_model_page(schema_generation_form, lambda item: item.is_schema, show_generated_schema)

cells = st.columns(3)
n_rows = cells[0].number_input("Rows", min_value=1, max_value=100_000_000, value=1_000, step=1_000, key="generate_rows")
seed = cells[1].number_input("Seed", min_value=0, value=0, step=1, key="generate_seed",
                             help="The same model, seed and conditions give the same rows.")
output_format = cells[2].selectbox("Format", list(FORMATS), format_func=FORMATS.get, key="generate_format")

st.subheader("Conditions", anchor=False)
st.caption("Only rows that meet every condition are generated (for example, to add rare cases). Leave empty for "
           "rows like the training data.")
source = attempt("reading the model's columns", dataset_store.get_version, who.tenant,
                 version_id=version.dataset_version_id, actor=who.actor, preview_rows=0)
columns = columns_from_profile(source.profile) if source is not None else []
conditions = conditions_builder(columns, key=BUILDER_KEY)
if conditions:
    st.markdown("**Expression**")
    st.code(expression(conditions), language="python")
    if st.button("Clear the conditions", key="generate_clear", icon=":material/clear_all:"):
        clear_conditions(key=BUILDER_KEY)
        st.rerun()

if who.allows("member") and st.button("Generate", type="primary", icon=":material/auto_awesome:",
                                      key="generate_start"):
    try:
        request = request_form(conditions)
    except Exception as err:  # a condition the language cannot spell: say which
        request = None
        st.error(markdown_literal(str(err)), icon=":material/error:")
    else:
        job = attempt("starting the generation", job_requests.request_generation, who.tenant,
                      model_version_id=version.id, n_rows=int(n_rows), actor=who.actor, seed=int(seed),
                      conditions=request, output_format=output_format)
        if job is not None:
            st.session_state[LAST_JOB_KEY] = job.id
            remember("job", job.id)

last_job = st.session_state.get(LAST_JOB_KEY)
if last_job:
    generated_id = _follow(last_job)
    if generated_id:
        remember("generated", generated_id)
        item = attempt("reading the generated data", outputs.get_generated, who.tenant,
                       generated_dataset_id=generated_id, actor=who.actor)
        preview = None if item is None or item.is_schema else attempt(
            "reading the first rows", outputs.preview_generated, who.tenant, generated_dataset_id=generated_id,
            actor=who.actor)
        if item is not None and item.is_schema:  # the last job was a schema's (another model is picked now)
            show_generated_schema(who, item)
            item = None
        if item is not None:
            st.success(f"Generated {markdown_literal(item.label)}.", icon=":material/check_circle:")
        if preview is not None:
            st.markdown("**First rows**")
            st.dataframe(preview, hide_index=True)
        if item is not None:
            def _file(generated_id: str = generated_id) -> bytes:
                return outputs.download_generated(who.tenant, generated_dataset_id=generated_id, actor=who.actor).data

            name = f"synthetic-{generated_id[:8]}.{item.format}"
            st.download_button(f"Download ({item.format}, {item.n_bytes / 1e6:.2f} MB)", data=_file, file_name=name,
                               mime=outputs.MIME_TYPES.get(item.format), icon=":material/download:",
                               key="generate_download", on_click="ignore")
        link_to("quality", "Next: assess its quality", icon=":material/fact_check:")

_earlier(version.id)
