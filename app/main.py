"""The workbench's entry script (``streamlit run app/main.py``; start it with ``python -m app``).

Sets up the page, lets a share link (``?share=<token>``) open its one report without login,
runs the login gate (``auth.gate.admit``: single-user local mode with a banner when no
provider is configured; otherwise nothing runs until the user is signed in and has a
workspace), and routes to the pages under ``pages/`` that the user's role offers with
st.navigation. Streamlit runs this script on every interaction, before the page script.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from app import data_export, download_guard
from app.identity import LOCAL_MODE_BANNER
from app.pages_registry import workbench_pages
from auth.gate import account_sidebar, admit, restore_deep_link

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="Doppel", page_icon="🪞", layout="wide")
download_guard.install()  # a download's id answers only the session it was given to
data_export.enforce()  # no table's built-in CSV download or copy: formula cells stay out of spreadsheets


def reports_home() -> None:
    """The page of a viewer until the workbench's Quality page exists (issue 6)."""
    st.title("Reports")
    st.info(
        "Your role in this workspace is **viewer**: you can read quality reports. "
        "No report is available to read here yet.",
        icon=":material/description:",
    )


if share_token := st.query_params.get("share"):
    from app.shared_report import render_shared_report

    render_shared_report(share_token)
    st.stop()

# (url path, least role that sees the page, page); the first visible page is the default.
PAGES = workbench_pages()  # app/pages_registry.py: every page of the workbench (issue 6)
VIEWER_HOME = ("reports", "viewer", st.Page(reports_home, title="Reports", icon=":material/description:", url_path="reports"))

identity = admit([page for _, _, page in PAGES])

if identity.local_mode:
    st.warning(LOCAL_MODE_BANNER, icon=":material/person:")

visible = [entry for entry in PAGES if identity.allows(entry[1])] or [VIEWER_HOME]
navigation = st.navigation([page for _, _, page in visible])
restore_deep_link({"": visible[0][2]} | {path: page for path, _, page in visible})
account_sidebar(identity)
navigation.run()
