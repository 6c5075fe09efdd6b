"""The workbench's pages, in navigation order, with the least role that sees each one.

A viewer reads reports: Quality (their landing page, the first they see) and Settings (the
workspace's gates, quotas and members, read-only). Members and above see every page.

``app/main.py`` builds its navigation from ``workbench_pages()``; pages link to each other with
``page(url_path)``, so a page's file, title and URL are written down once, here.
"""

from __future__ import annotations

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
    default: bool = False


PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("data", "data.py", "Data", ":material/table_view:", "member", default=True),
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
    return st.Page(PAGES_DIR / spec.file, title=spec.title, icon=spec.icon, url_path=spec.url_path,
                   default=spec.default)


def workbench_pages() -> list[tuple[str, str, Any]]:
    """``(url path, least role, st.Page)`` for every page, in navigation order (``app/main.py``)."""
    return [(spec.url_path, spec.least_role, page(spec.url_path)) for spec in PAGE_SPECS]


__all__ = ["PAGES_DIR", "PAGE_SPECS", "PageSpec", "page", "workbench_pages"]
