"""Every workbench page answers at its own URL (a deep link), and ``/`` still opens the Data page."""

from __future__ import annotations

import base64
import json

import pytest

from app.branding import PRODUCT_NAME, wordmark_svg
from app.pages_registry import PAGE_SPECS
from tests.app.page_support import MAIN_SCRIPT, TIMEOUT_S, clear_caches, no_traceback

URL_PATHS = ["data", "profile", "train", "jobs", "models", "generate", "quality", "privacy", "settings"]


@pytest.fixture
def empty_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("DOPPEL_DATA_DIR", str(tmp_path))
    clear_caches()
    yield tmp_path
    clear_caches()


def _page_url_paths() -> None:
    """A script that writes each registered page's URL path as Streamlit resolves it."""
    import json

    import streamlit as st

    from app.pages_registry import PAGE_SPECS, page

    resolved = {}
    for spec in PAGE_SPECS:
        resolved[spec.url_path] = page(spec.url_path).url_path
    st.text(json.dumps(resolved))


def test_each_page_has_its_own_url_path():
    # Streamlit serves its default page at "/" only: a workbench page that were the default would
    # answer "Page not found" at its own path (the Data page did, at /data).
    from streamlit.testing.v1 import AppTest

    assert [spec.url_path for spec in PAGE_SPECS] == URL_PATHS
    at = AppTest.from_function(_page_url_paths).run()
    assert json.loads(at.text[0].value) == {path: path for path in URL_PATHS}


def test_the_root_url_opens_the_data_page(empty_workspace):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(MAIN_SCRIPT, default_timeout=TIMEOUT_S).run()
    no_traceback(at)
    assert [t.value for t in at.title] == ["Data"]


def test_the_wordmark_names_the_product():
    svg = wordmark_svg()
    assert svg.startswith("<svg") and f">{PRODUCT_NAME}</text>" in svg and f'aria-label="{PRODUCT_NAME}"' in svg
    assert base64.b64decode(base64.b64encode(svg.encode())).decode() == svg
