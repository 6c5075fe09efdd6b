"""A real workbench (python -m app) and a real Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
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

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_TIMEOUT_S = 120


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


@pytest.fixture(scope="session")
def workbench(tmp_path_factory) -> Iterator[str]:
    """The URL of the workbench started by its launcher, with its state in a temporary folder."""
    with launch_workbench(tmp_path_factory.mktemp("doppel-data")) as url:
        yield url


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
