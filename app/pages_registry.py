"""The workbench's pages, in navigation order, with the least role that sees each one.

A viewer reads reports: Quality (their landing page, the first they see) and Settings (the
workspace's gates, quotas and members, read-only). Members and above see every page.

``app/main.py`` builds its navigation from ``workbench_pages()``; pages link to each other with
``page(url_path)``, so a page's file, title and URL are written down once, here.

Every page answers at its own URL (``/data``, ``/profile``, … ``/settings``), so any page is a
deep link. Streamlit serves its default page at ``/`` only (the default page's own url path
answers "Page not found"), so no workbench page is the default: ``home_page`` is a hidden
default page at ``/`` that opens the first page the user's role offers, at its own URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


@dataclass(frozen=True)
class PageSpec:
    """One page: its script in ``pages/``, its title and icon, its URL path and the least role."""

    url_path: str
    file: str
    title: str
    icon: str
    least_role: str


PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("data", "data.py", "Data", ":material/table_view:", "member"),
    PageSpec("profile", "profile.py", "Profile", ":material/analytics:", "member"),
    PageSpec("train", "train.py", "Train", ":material/model_training:", "member"),
    PageSpec("jobs", "jobs.py", "Jobs", ":material/pending_actions:", "member"),
    PageSpec("models", "models.py", "Models", ":material/inventory_2:", "member"),
    PageSpec("generate", "generate.py", "Generate", ":material/auto_awesome:", "member"),
    PageSpec("quality", "quality.py", "Quality", ":material/fact_check:", "viewer"),
    PageSpec("privacy", "privacy.py", "Privacy", ":material/shield_lock:", "member"),
    PageSpec("settings", "settings.py", "Settings", ":material/settings:", "viewer"),
)


def _spec(url_path: str) -> PageSpec:
    for spec in PAGE_SPECS:
        if spec.url_path == url_path:
            return spec
    raise KeyError(f"no workbench page {url_path!r}; pages: {', '.join(s.url_path for s in PAGE_SPECS)}")


def page(url_path: str) -> Any:
    """The ``st.Page`` of one workbench page (for st.page_link and st.switch_page)."""
    spec = _spec(url_path)
    return st.Page(PAGES_DIR / spec.file, title=spec.title, icon=spec.icon, url_path=spec.url_path)


HOME_URL_PATH = "home"
"""The hidden default page's own url path (it answers at ``/``; no workbench page uses it)."""


def home_page(open_first: Callable[[], None]) -> Any:
    """The hidden default page, served at ``/``: ``open_first`` switches to the user's first page.

    Kept out of the menu (``visibility="hidden"``), so the menu lists the workbench pages only
    and marks the one shown, at its own URL.
    """
    return st.Page(open_first, title="Doppel", url_path=HOME_URL_PATH, default=True, visibility="hidden")


def workbench_pages() -> list[tuple[str, str, Any]]:
    """``(url path, least role, st.Page)`` for every page, in navigation order (``app/main.py``)."""
    return [(spec.url_path, spec.least_role, page(spec.url_path)) for spec in PAGE_SPECS]


__all__ = ["HOME_URL_PATH", "PAGES_DIR", "PAGE_SPECS", "PageSpec", "home_page", "page", "workbench_pages"]
