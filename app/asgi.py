"""The one ASGI app of ``python -m app``: the workbench (``app/main.py``) and the REST API at /api/v1.

``streamlit run app/asgi.py`` (what ``app.launcher`` starts) finds ``app`` below, an ``st.App``,
and serves it with uvicorn in one process, with the config flags the launcher derived from
``streamlit_config/``. The API reads the same secrets as the workbench: its login is the
``[auth]`` section (OIDC access tokens of those providers) and ``[access]`` rules; without an
``[auth]`` section it answers loopback callers as the local user, like the workbench.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.api.factory import api_routes

MAIN_SCRIPT = Path(__file__).resolve().parent / "main.py"


def _secrets_table(name: str) -> dict[str, Any] | None:
    if not st.secrets.load_if_toml_exists() or name not in st.secrets:
        return None
    table = st.secrets[name]
    return table.to_dict() if hasattr(table, "to_dict") else dict(table)


app = st.App(str(MAIN_SCRIPT), routes=api_routes(auth_section=_secrets_table("auth"),
                                                access_section=_secrets_table("access")))
