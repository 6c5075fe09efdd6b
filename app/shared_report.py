"""The read-only view a share link opens (``/?share=<token>``), without login.

The token is the capability (``auth.share_links``): it opens exactly one quality report of one
tenant and nothing else — no navigation, no sidebar, no other page. An unknown, expired or
revoked link says so. The view shows the report as the workbench's Quality page shows it
(``app.components.report_view``: verdict, scores, gates, recommendations and the report's
figures; a schema's report with its cross-table section and a tab per table,
``app.components.schema_report_view``), read from the stored report document; it offers no
button and no download.
"""

from __future__ import annotations

import streamlit as st

from app.components.schema_report_view import render_any_report
from app.failures import show_error, user_message
from auth.share_links import ShareLinkError, resolve_share_link
from infra.usecases.outputs import report_document


def render_shared_report(token: str) -> None:
    """Show the report ``token`` opens, or why it does not open one."""
    st.title("Shared quality report")
    try:
        shared = resolve_share_link(token)
        # The token was checked just above and names exactly this tenant and report.
        document = report_document(shared.tenant, report_id=shared.report_id, actor=None)
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
    render_any_report(document, key="shared")
