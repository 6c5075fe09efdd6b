"""Data: bring a table in (upload, a database table, an s3:// path), see its profile, keep it as a dataset version.

Several uploaded files (or one .zip), or several database tables, make one dataset of related
tables (``infra.usecases.schema_store``); its relations are reviewed on the Profile page.

Thin on purpose: the upload flow lives in ``app.uploads``, storing and deleting in
``infra.usecases.dataset_store`` / ``database_sources``, the rendering in
``app.components.profile_view``.
"""

from __future__ import annotations

import hashlib

import polars as pl
import streamlit as st

from app.components.acting import acting, attempt, link_to
from app.components.literal_text import markdown_literal
from app.components.pickers import remember
from app.components.profile_view import render_uploaded_profile
from app.failures import show_error
from app.uploads import ACCEPTED_TYPES, forget_upload, profile_uploaded_file, upload_limit_mb
from infra.usecases import database_sources, dataset_store, s3_sources, schema_store

st.title("Data")
who = acting()


def saved(stored: dataset_store.StoredVersion) -> None:
    """Say where a stored table (or several related tables) went, and make it the current version for the next pages."""
    remember("dataset_version", stored.version_id)
    tables = stored.n_tables
    held = f"{tables} tables, " if tables else ""
    if stored.created:
        st.success(
            f"Saved as **{markdown_literal(stored.dataset_name)} v{stored.version}** "
            f"({held}{stored.n_rows:,} rows, {stored.n_columns} columns, SHA-256 {stored.content_hash[:12]}…).",
            icon=":material/check_circle:",
        )
    else:
        what = "the same tables and relations" if tables else "the same table"
        st.info(f"Identical to **{markdown_literal(stored.dataset_name)} v{stored.version}** ({what}, "
                f"SHA-256 {stored.content_hash[:12]}…): no new version was made.", icon=":material/info:")
    cells = st.columns(2)
    with cells[0]:
        link_to("profile", "Review its relations and profile" if tables else "Review and edit its profile",
                icon=":material/analytics:")
    with cells[1]:
        link_to("train", "Train a model on it", icon=":material/model_training:")


ORPHAN_CHOICES = {
    "refuse": "Refuse, and say how many",
    "drop": "Drop them (and their children)",
    "keep": "Keep them",
}

upload_tab, database_tab, s3_tab = st.tabs(["Upload a file", "Connect a database", "S3 path"])

def save_related_files(files: list) -> None:
    """Several files (or one .zip): one dataset of related tables, one table per file, saved on request."""
    zipped = len(files) == 1
    stems = [schema_store.table_name_for(dataset_store.dataset_name_for(f.name.removesuffix(".zip"))) for f in files]
    ident = hashlib.sha256("/".join(f.file_id for f in files).encode()).hexdigest()[:16]
    with st.container(border=True):
        if zipped:
            st.markdown(f"**{markdown_literal(files[0].name)}** is a zip archive: each file in it becomes a table "
                        "(named by the file) of one dataset of related tables.")
        else:
            st.markdown(f"**{len(files)} files** become one dataset of related tables, one table per file: "
                        + ", ".join(f"**{markdown_literal(stem)}**" for stem in stems) + ".")
        st.caption("The relations between the tables are inferred from the data when they are saved; review, "
                   "change or add them on the Profile page before training.")
        cells = st.columns([2, 2, 1], vertical_alignment="bottom")
        name = cells[0].text_input("Dataset name", value="_".join(stems)[:200], key=f"save_schema_name_{ident}",
                                   max_chars=200)
        orphans = cells[1].selectbox(
            "Rows whose key has no parent row", list(ORPHAN_CHOICES), format_func=ORPHAN_CHOICES.get,
            key=f"save_schema_orphans_{ident}",
            help="A child row whose foreign key matches no row of its parent table: refuse the upload and say "
                 "how many there are, drop those rows (and their own children), or keep them.")
        if cells[2].button("Save as dataset", type="primary", key="save_upload_tables", icon=":material/save:"):
            with st.spinner("Reading, checking and profiling the tables…", show_time=True):
                stored = attempt("saving the tables", schema_store.store_upload_tables, who.tenant,
                                 files=[(f.name, f.getvalue()) for f in files], name=name, actor=who.actor,
                                 orphans=orphans)
            if stored is not None:
                saved(stored)


with upload_tab:
    uploads = st.file_uploader(
        "Upload a table, or several related tables",
        type=[*ACCEPTED_TYPES, "zip"],
        accept_multiple_files=True,
        max_upload_size=upload_limit_mb(),
        key="data_upload",
        help="CSV or TSV with a header row, Parquet, JSON (an array of records) or NDJSON; "
        "gzip (.gz) and zstandard (.zst) compressed files too. Several files, or one .zip of them, make one "
        "dataset of related tables (one table per file).",
    )
    uploaded = uploads[0] if len(uploads or []) == 1 and not uploads[0].name.lower().endswith(".zip") else None
    if not uploads:
        forget_upload()
        st.info(
            "**Start here:** upload a CSV, TSV, Parquet, JSON or NDJSON file (it may be .gz or .zst "
            "compressed). Doppel shows its schema, a chart of every column, the columns that hold "
            "personal data, quality warnings, key candidates and the model it recommends. "
            "Several files, or one .zip of them, make one dataset of related tables.",
            icon=":material/upload_file:",
        )
    elif uploaded is None:
        forget_upload()
        save_related_files(list(uploads))
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
        picked = st.multiselect("Tables to import", [t.qualified for t in tables], key="db_pick",
                                help="One table makes a dataset of one table; several make one dataset of related "
                                     "tables with the keys the database declares.")
        related = len(picked) > 1
        if related:
            st.caption("The tables are read whole, in one snapshot, with their declared primary and foreign keys "
                       "(sampling tables one by one would break their keys).")
            schema_name = st.text_input("Dataset name", key="db_schema_name", max_chars=200,
                                        value="_".join(q.rsplit(".", 1)[-1] for q in picked)[:200])
            orphans = st.selectbox("Rows whose key has no parent row", list(ORPHAN_CHOICES),
                                   format_func=ORPHAN_CHOICES.get, key="db_orphans")
        else:
            share = st.slider("Share of rows to read", 0.01, 1.0, 1.0, 0.01, key="db_sample",
                              help="Below 1, a seeded random sample of the rows is read while streaming.")
        if st.button("Import the tables", key="db_import", type="primary", disabled=not picked,
                     icon=":material/download:"):
            if related:
                with st.spinner("Reading the tables and their keys…", show_time=True):
                    stored = attempt("importing the tables", database_sources.import_tables, url, tables=picked,
                                     name=schema_name, tenant=who.tenant, actor=who.actor, orphans=orphans)
                if stored is not None:
                    saved(stored)
            else:
                [qualified] = picked
                table = next(t for t in tables if t.qualified == qualified)
                with st.spinner(f"Importing {markdown_literal(qualified)}…", show_time=True):
                    stored = attempt(f"importing {qualified}", database_sources.import_table, who.tenant, url=url,
                                     table=table, actor=who.actor, sample=None if share >= 1.0 else share)
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
    title = f"{dataset.name} · {len(dataset.versions)} version(s)"
    if latest and latest.is_schema:
        title += f" · latest {len(latest.table_names)} related tables, {latest.n_rows or 0:,} rows"
    elif latest and latest.n_rows:
        title += f" · latest {latest.n_rows:,} rows"
    with st.expander(markdown_literal(title)):
        st.dataframe(
            pl.DataFrame({
                "version": [v.version for v in dataset.versions],
                "tables": [len(v.table_names) if v.is_schema else 1 for v in dataset.versions],
                "rows": [v.n_rows for v in dataset.versions],
                "columns": [v.n_columns for v in dataset.versions],
                "from": [v.origin for v in dataset.versions],
                "SHA-256": [v.content_hash for v in dataset.versions],
                "saved": [f"{v.created_at:%Y-%m-%d %H:%M} UTC" for v in dataset.versions],
            }, schema_overrides={"tables": pl.Int64, "rows": pl.Int64, "columns": pl.Int64}),
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
