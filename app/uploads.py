"""The upload flow of the Data page: profile an uploaded file once, keep the outcome.

Streamlit reruns the page on every interaction; the outcome (profile or error message) is
kept in ``st.session_state`` under the upload's file id, so a rerun shows it again without
reading or profiling the file a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from app.components.literal_text import markdown_literal
from app.failures import user_message
from app.identity import current_identity
from app.launcher import upload_size_mb
from infra.settings import get_settings
from infra.usecases.datasets import UploadedProfile, profile_upload

if TYPE_CHECKING:
    from streamlit.typing import UploadedFile

ACCEPTED_TYPES = ["csv", "tsv", "parquet", "json", "ndjson", "jsonl", "gz", "zst"]
"""Extensions the uploader offers; compressed files are .csv.gz, .ndjson.zst and the like."""

OUTCOME_KEY = "data_upload_outcome"


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one uploaded file: its profile, or the message saying why not."""

    file_id: str
    result: UploadedProfile | None = None
    error: str | None = None


def upload_limit_mb() -> int:
    """DOPPEL_MAX_UPLOAD_BYTES in whole megabytes, for the uploader's size cap."""
    return upload_size_mb(get_settings().max_upload_bytes)


def profile_bytes(*, data: bytes, filename: str, file_id: str) -> UploadOutcome:
    """Profile uploaded bytes for the current tenant; errors become a message, never raise."""
    identity = current_identity()
    if not identity.allows("member"):  # the page is hidden from viewers; this holds if it is reached anyway
        return UploadOutcome(
            file_id=file_id, error=f"Your role in this workspace is {identity.role}: uploading data needs the member role."
        )
    try:
        result = profile_upload(tenant=identity.tenant, data=data, filename=filename)
    except Exception as err:  # every failure must reach the page as a message
        return UploadOutcome(file_id=file_id, error=user_message(err, action=f"profiling {filename}"))
    return UploadOutcome(file_id=file_id, result=result)


def profile_uploaded_file(uploaded: UploadedFile) -> UploadOutcome:
    """The outcome for this upload: from session state when already profiled, else computed."""
    kept = st.session_state.get(OUTCOME_KEY)
    if isinstance(kept, UploadOutcome) and kept.file_id == uploaded.file_id:
        return kept
    with st.spinner(f"Reading and profiling {markdown_literal(uploaded.name, limit=80)}…", show_time=True):
        outcome = profile_bytes(data=uploaded.getvalue(), filename=uploaded.name, file_id=uploaded.file_id)
    st.session_state[OUTCOME_KEY] = outcome
    return outcome


def forget_upload() -> None:
    """Drop the kept outcome (the user removed the file from the uploader)."""
    st.session_state.pop(OUTCOME_KEY, None)
