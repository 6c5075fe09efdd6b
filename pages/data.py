"""Data: upload a table and see its profile.

Thin on purpose: the upload flow lives in ``app.uploads`` (which calls the dataset service in
``infra``), the rendering in ``app.components.profile_view``.
"""

from __future__ import annotations

import streamlit as st

from app.components.profile_view import render_uploaded_profile
from app.failures import show_error
from app.uploads import ACCEPTED_TYPES, forget_upload, profile_uploaded_file, upload_limit_mb

st.title("Data")

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
        render_uploaded_profile(outcome.result)
