"""A real workbench (python -m app) and a real Chromium (Debian's, driven by Playwright).

The shared ``workbench`` (the launcher's defaults) is a fixture of ``tests/conftest.py``: the
browser tests of tests/auth use the same one.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_TIMEOUT_S = 120
WAIT_MS = 60_000  # a Streamlit rerun on a busy machine


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def launch_workbench(data_dir: Path, *, port: int | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the workbench with its launcher (``python -m app``) and yield its URL; stop it after.

    ``data_dir`` holds its embedded state and its log; ``env`` adds to (or overrides) the
    environment, e.g. ``STREAMLIT_SECRETS_FILES`` for a login configuration or
    ``DOPPEL_DATABASE_URL`` for PostgreSQL.
    """
    log_path = data_dir / "workbench.log"
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "DOPPEL_DATA_DIR": str(data_dir), **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=REPO,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the workbench did not start; its log:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PageProblems:
    """Console errors, uncaught page errors and dialogs seen by one page."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser page (1400 px wide) recording its problems on ``page.problems``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    new_page = context.new_page()
    problems = PageProblems()
    new_page.on("console", lambda msg: problems.console_errors.append(msg.text) if msg.type == "error" else None)
    new_page.on("pageerror", lambda err: problems.page_errors.append(str(err)))

    def on_dialog(dialog) -> None:
        problems.dialogs.append(dialog.message)
        dialog.dismiss()

    new_page.on("dialog", on_dialog)
    new_page.problems = problems
    yield new_page
    context.close()


@pytest.fixture
def screenshot(page):
    """``screenshot(name)`` saves the whole page to test-artifacts/<name>.png."""
    return lambda name: _save_screenshot(page, name)


def _save_screenshot(page, name: str) -> Path:
    # Streamlit scrolls inside its main block, not the window: grow the viewport to fit it.
    ARTIFACTS.mkdir(exist_ok=True)
    height = page.evaluate(
        "() => Math.max(document.body.scrollHeight,"
        " ...Array.from(document.querySelectorAll('[data-testid=\"stMain\"], section.main'), el => el.scrollHeight))"
    )
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(int(height) + 50, 16000)})
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": 1000})
    return path


# -- steps the journeys share ------------------------------------------------------------

def go_to(page: Page, title: str) -> None:
    """Open a page from the sidebar navigation (the browser session, and its selections, carry on)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=WAIT_MS)


def choose(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option).first.click()


def gate_cells(page: Page, gate: str) -> list[str]:
    """The cells of the gates table's row that names ``gate`` (status first), read from the grid's accessible table.

    The grid draws on a canvas; its cells are also an HTML table inside it, which has no layout
    box of its own, so it is found by its elements rather than by role (roles skip hidden elements).
    """
    row = page.get_by_test_id("stDataFrame").filter(has_text="threshold").locator("tbody tr").filter(has_text=gate)
    expect(row).to_have_count(1, timeout=WAIT_MS)
    return [cell.strip() for cell in row.locator("td").all_text_contents()]
