"""The workbench's entry script (``streamlit run app/main.py``; start it with ``python -m app``).

Sets up the page, shows the local-mode banner, and routes to the pages under ``pages/`` with
st.navigation. Streamlit runs this script on every interaction, before the page script.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from app.identity import LOCAL_MODE_BANNER, LOGIN_NOT_SUPPORTED, current_identity, login_configured

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="Doppel", page_icon="🪞", layout="wide")

if login_configured():
    st.error(LOGIN_NOT_SUPPORTED)
    st.stop()

if current_identity().local_mode:
    st.warning(LOCAL_MODE_BANNER, icon=":material/person:")

navigation = st.navigation(
    [st.Page(PAGES_DIR / "data.py", title="Data", icon=":material/table_view:", default=True)]
)
navigation.run()
