"""Data: bring a table in (upload, a database table, an s3:// path), see its profile, keep it as a dataset version.

Thin on purpose: the upload flow lives in ``app.uploads``, storing and deleting in
``infra.usecases.dataset_store`` / ``database_sources``, the rendering in
``app.components.profile_view``.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt, link_to
from app.components.literal_text import markdown_literal
from app.components.pickers import remember
from app.components.profile_view import render_uploaded_profile
from app.failures import show_error
from app.uploads import ACCEPTED_TYPES, forget_upload, profile_uploaded_file, upload_limit_mb
from infra.usecases import database_sources, dataset_store, s3_sources

st.title("Data")
who = acting()


def saved(stored: dataset_store.StoredVersion) -> None:
    """Say where a stored table went, and make it the current version for the next pages."""
    remember("dataset_version", stored.version_id)
    if stored.created:
        st.success(
            f"Saved as **{markdown_literal(stored.dataset_name)} v{stored.version}** "
            f"({stored.n_rows:,} rows, {stored.n_columns} columns, SHA-256 {stored.content_hash[:12]}…).",
            icon=":material/check_circle:",
        )
    else:
        st.info(f"Identical to **{markdown_literal(stored.dataset_name)} v{stored.version}** (the same table, "
                f"SHA-256 {stored.content_hash[:12]}…): no new version was made.", icon=":material/info:")
    cells = st.columns(2)
    with cells[0]:
        link_to("profile", "Review and edit its profile", icon=":material/analytics:")
    with cells[1]:
        link_to("train", "Train a model on it", icon=":material/model_training:")


upload_tab, database_tab, s3_tab = st.tabs(["Upload a file", "Connect a database", "S3 path"])

with upload_tab:
    uploaded = st.file_uploader(
        "Upload a table",
        type=ACCEPTED_TYPES,
        max_upload_size=upload_limit_mb(),
        help="CSV or TSV with a header row, Parquet, JSON (an array of records) or NDJSON; "
        "gzip (.gz) and zstandard (.zst) compressed files too.",
    )
    if uploaded is None:
        forget_upload()
        st.info(
            "**Start here:** upload a CSV, TSV, Parquet, JSON or NDJSON file (it may be .gz or .zst "
            "compressed). Doppel shows its schema, a chart of every column, the columns that hold "
            "personal data, quality warnings, key candidates and the model it recommends.",
            icon=":material/upload_file:",
        )
    else:
        outcome = profile_uploaded_file(uploaded)
        if outcome.error is not None:
            show_error(outcome.error)
        elif outcome.result is not None:
            with st.container(border=True):
                st.markdown("**Keep this table in the workspace** to train models on it. Each save of new "
                            "content becomes the next version of the dataset, with its hash.")
                cells = st.columns([3, 1], vertical_alignment="bottom")
                name = cells[0].text_input("Dataset name", value=dataset_store.dataset_name_for(uploaded.name),
                                           key=f"save_name_{uploaded.file_id}", max_chars=200)
                if cells[1].button("Save as dataset", type="primary", key="save_upload", icon=":material/save:"):
                    with st.spinner("Storing the table…", show_time=True):
                        stored = attempt(f"saving {uploaded.name}", dataset_store.store_upload, who.tenant,
                                         data=uploaded.getvalue(), filename=uploaded.name, dataset_name=name,
                                         actor=who.actor, profile=outcome.result.profile.to_dict())
                    if stored is not None:
                        saved(stored)
            render_uploaded_profile(outcome.result)

with database_tab:
    st.markdown("**Read a table from PostgreSQL or MySQL/MariaDB.** The connection is read-only with a "
                "statement timeout; the password is never stored or shown.")
    url = st.text_input("Connection URL", type="password", key="db_url",
                        placeholder="postgresql://user:password@host:5432/database")
    if st.button("List tables", key="db_list", icon=":material/list:"):
        with st.spinner("Connecting…"):
            tables = attempt("listing the tables", database_sources.list_tables, url)
        st.session_state["db_tables"] = tables or []
    tables: list[database_sources.SourceTable] = st.session_state.get("db_tables") or []
    if tables:
        st.dataframe(
            pl.DataFrame({
                "table": [t.qualified for t in tables],
                "primary key": [", ".join(t.primary_key) for t in tables],
                "foreign key columns": [", ".join(t.foreign_keys) for t in tables],
            }),
            hide_index=True,
        )
        picked = st.multiselect("Tables to import", [t.qualified for t in tables], key="db_pick")
        share = st.slider("Share of rows to read", 0.01, 1.0, 1.0, 0.01, key="db_sample",
                          help="Below 1, a seeded random sample of the rows is read while streaming.")
        if st.button("Import the tables", key="db_import", type="primary", disabled=not picked,
                     icon=":material/download:"):
            progress = st.progress(0.0, text="Importing…")
            for index, qualified in enumerate(picked):
                table = next(t for t in tables if t.qualified == qualified)
                stored = attempt(f"importing {qualified}", database_sources.import_table, who.tenant, url=url,
                                 table=table, actor=who.actor, sample=None if share >= 1.0 else share)
                progress.progress((index + 1) / len(picked), text=f"{index + 1} of {len(picked)} tables")
                if stored is not None:
                    saved(stored)

with s3_tab:
    st.markdown("**Read a file from S3** (or an S3-compatible store): CSV, Parquet, JSON or NDJSON, compressed "
                "or not. It is read with this workspace's own S3 credentials, never the server's.")
    s3_source = attempt("reading the workspace's S3 credentials", s3_sources.describe, who.tenant, actor=who.actor)
    if s3_source is None:
        st.info("This workspace has no S3 credentials yet: an admin adds them in **Settings**, under "
                "**S3 credentials**.", icon=":material/key:")
        link_to("settings", "Open Settings", icon=":material/settings:")
    else:
        allowed = ", ".join(s3_source.allowed_buckets) or "any bucket the key can read"
        st.caption(f"Key {markdown_literal(s3_source.key_id_label)} · "
                   f"{markdown_literal(s3_source.endpoint_url or 'AWS')} · buckets: {markdown_literal(allowed)}")
    path = st.text_input("S3 path", key="s3_path", placeholder="s3://bucket/folder/table.parquet")
    s3_name = st.text_input("Dataset name", key="s3_name",
                            value=dataset_store.dataset_name_for(path.rsplit("/", 1)[-1]) if path.strip() else "")
    if st.button("Import from S3", key="s3_import", type="primary", icon=":material/cloud_download:"):
        with st.spinner("Reading and profiling…", show_time=True):
            stored = attempt(f"importing {path}", dataset_store.store_s3_object, who.tenant, path=path,
                             dataset_name=s3_name or "dataset", actor=who.actor)
        if stored is not None:
            saved(stored)

st.header("Workspace tables", anchor="workspace-tables", divider="gray")
datasets = attempt("listing the workspace's tables", dataset_store.list_datasets, who.tenant, actor=who.actor) or []
if not datasets:
    st.caption("Nothing saved yet: upload a file above and press **Save as dataset**.")
for dataset in datasets:
    latest = dataset.latest
    title = f"{dataset.name} · {len(dataset.versions)} version(s)" + (f" · latest {latest.n_rows:,} rows" if latest and latest.n_rows else "")
    with st.expander(markdown_literal(title)):
        st.dataframe(
            pl.DataFrame({
                "version": [v.version for v in dataset.versions],
                "rows": [v.n_rows for v in dataset.versions],
                "columns": [v.n_columns for v in dataset.versions],
                "from": [v.origin for v in dataset.versions],
                "SHA-256": [v.content_hash for v in dataset.versions],
                "saved": [f"{v.created_at:%Y-%m-%d %H:%M} UTC" for v in dataset.versions],
            }, schema_overrides={"rows": pl.Int64, "columns": pl.Int64}),
            hide_index=True,
        )
        if who.allows("member") and st.toggle("Delete this dataset…", key=f"delete_open_{dataset.id}"):
            blocked = dataset.n_models > 0
            if blocked:
                st.warning(f"{dataset.n_models} model(s) were trained on it; their lineage keeps it, so it cannot "
                           "be deleted.", icon=":material/lock:")
            st.caption("Deleting removes every version and its stored table. It cannot be undone.")
            confirm = st.text_input(f"Type {markdown_literal(dataset.name)} to confirm", key=f"delete_confirm_{dataset.id}")
            if st.button("Delete permanently", key=f"delete_{dataset.id}", type="primary", disabled=blocked,
                         icon=":material/delete_forever:"):
                deleted = attempt(f"deleting {dataset.name}", dataset_store.delete_dataset, who.tenant,
                                  dataset_id=dataset.id, confirm_name=confirm, actor=who.actor)
                if deleted is not None:
                    st.session_state.pop(f"delete_open_{dataset.id}", None)
                    st.toast(f"Deleted {dataset.name} ({deleted} version(s)).", icon=":material/delete:")
                    st.rerun()
