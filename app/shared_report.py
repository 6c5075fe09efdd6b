"""The read-only view a share link opens (``/?share=<token>``), without login.

The token is the capability (``auth.share_links``): it opens exactly one quality report of one
tenant and nothing else — no navigation, no sidebar, no other page. An unknown, expired or
revoked link says so. The view shows the report's verdict, gates and scores as stored;
the Quality page of the workbench issue replaces it with the full report (figures,
recommendations) when it lands.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from app.failures import show_error, user_message
from auth.share_links import ShareLinkError, resolve_share_link
from infra.db import tenant_session
from infra.services import catalog


def render_shared_report(token: str) -> None:
    """Show the report ``token`` opens, or why it does not open one."""
    st.title("Shared quality report")
    try:
        shared = resolve_share_link(token)
        with tenant_session(shared.tenant) as session:
            report = catalog.get_quality_report(session, shared.report_id)
            passed, gates, scores = report.passed, report.gates, report.scores
    except ShareLinkError as err:
        show_error(str(err))
        return
    except Exception as err:  # never a traceback on a public page
        show_error(user_message(err, action="opening a shared report"))
        return
    st.caption(
        f"Read-only link to one report; it stops working on {shared.expires_at:%Y-%m-%d %H:%M} UTC. "
        "It shows synthetic-data quality figures only, never the real data."
    )
    if passed:
        st.success("Every blocking quality gate passed.", icon=":material/check_circle:")
    else:
        st.error("At least one blocking quality gate failed.", icon=":material/cancel:")
    st.subheader("Gates")
    gate_rows = _records(gates)
    if gate_rows:
        st.dataframe(pl.DataFrame(gate_rows), hide_index=True)
    else:
        st.write("This report records no gates.")
    st.subheader("Scores")
    st.json(scores or {})


def _records(gates: Any) -> list[dict[str, str]]:
    """Gates as table rows of text (cells are shown literally by st.dataframe)."""
    rows = []
    for gate in gates or []:
        if isinstance(gate, dict):
            rows.append({str(k): str(v) for k, v in gate.items()})
        else:
            rows.append({"gate": str(gate)})
    keys = sorted({k for row in rows for k in row})
    return [{k: row.get(k, "") for k in keys} for row in rows]
