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
from app.branding import PAGE_ICON, PRODUCT_NAME, wordmark_svg
from app.identity import LOCAL_MODE_BANNER
from app.pages_registry import home_page, workbench_pages
from auth.gate import account_sidebar, admit, restore_deep_link

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title=PRODUCT_NAME, page_icon=PAGE_ICON, layout="wide")
st.logo(wordmark_svg(), size="large")  # the product's name, at the top of the sidebar
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

def open_first_page() -> None:
    """``/``: the first page the user's role offers, opened at its own URL (``/data`` for a member)."""
    st.switch_page(visible[0][2], query_params=st.query_params.to_dict() or None)


# (url path, least role that sees the page, page); every page answers at its own URL, and the
# hidden default page at ``/`` opens the first visible one (app/pages_registry.py).
PAGES = workbench_pages()  # app/pages_registry.py: every page of the workbench (issue 6)
VIEWER_HOME = ("reports", "viewer", st.Page(reports_home, title="Reports", icon=":material/description:", url_path="reports"))
HOME = home_page(open_first_page)

identity = admit([HOME, *(page for _, _, page in PAGES)])

if identity.local_mode:
    st.warning(LOCAL_MODE_BANNER, icon=":material/person:")

visible = [entry for entry in PAGES if identity.allows(entry[1])] or [VIEWER_HOME]
navigation = st.navigation([HOME, *(page for _, _, page in visible)])
restore_deep_link({"": visible[0][2]} | {path: page for path, _, page in visible})
account_sidebar(identity)
navigation.run()
