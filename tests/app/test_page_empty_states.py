"""Every page of an empty workspace says what to do first, and links to where it is done."""

from __future__ import annotations

import pytest

from app.pages_registry import PAGE_SPECS
from tests.app.page_support import clear_caches, no_traceback, open_page, texts

FIRST_STEPS = {
    "data": ("upload a CSV", None),
    "profile": ("save a table as a dataset", "Go to Data"),
    "train": ("save a table as a dataset", "Go to Data"),
    "jobs": ("start a training", "Go to Train"),
    "models": ("train a model", "Go to Train"),
    "generate": ("train a model", "Go to Train"),
    "quality": ("generate synthetic data", "Go to Generate"),
    "privacy": ("save a table as a dataset", "Go to Data"),
}


@pytest.fixture
def empty_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("DOPPEL_DATA_DIR", str(tmp_path))
    clear_caches()
    yield tmp_path
    clear_caches()


def test_every_page_is_registered_in_the_navigation():
    assert [spec.url_path for spec in PAGE_SPECS] == [
        "data", "profile", "train", "jobs", "models", "generate", "quality", "privacy", "settings"]


@pytest.mark.parametrize("name", list(FIRST_STEPS))
def test_an_empty_page_says_what_to_do_first(empty_workspace, name):
    words, link = FIRST_STEPS[name]
    at = open_page(name)
    no_traceback(at)
    assert any("Start here:" in t and words in t for t in texts(at.info)), texts(at.info)
    if link is not None:
        assert link in [p.proto.label for p in at.get("page_link")]


def test_settings_of_an_empty_workspace_show_the_defaults(empty_workspace):
    at = open_page("settings")
    no_traceback(at)
    assert at.data_editor and {m.label for m in at.metric} >= {"Tier", "Jobs at once"}
