"""``app.download_guard``: a deferred download's id answers only the session that drew its button.

Streamlit's own handler and media manager, without a browser (``test_isolation_browser`` replays
a real id of another tenant's session in Chromium).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime import media_file_manager
from streamlit.runtime.backend_operation_handler import DeferredFileHandler
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from app import download_guard


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> MediaFileManager:
    """A media manager holding one deferred download drawn by session ``gil-session``."""
    download_guard.install()
    manager = MediaFileManager(MemoryMediaFileStorage("/media"))
    monkeypatch.setattr(media_file_manager, "_get_session_id", lambda: "gil-session")
    manager.file_id = manager.add_deferred(lambda: b"globex_salary_band\nzirconium\n", "text/csv", "1.2",
                                           file_name="rows.csv")
    return manager


def ask(manager: object, file_id: str, session_id: str) -> tuple[str, str]:
    """(URL, error) that the handler answers session ``session_id`` asking for ``file_id``."""
    request = BackMsg().backend_operation_request
    request.request_id, request.session_id = "r1", session_id
    request.deferred_file.file_id = file_id
    coroutine = DeferredFileHandler(lambda: manager).handle(request, session_id)
    with ThreadPoolExecutor(1) as thread:  # a loop of its own (Playwright's sync API may hold this thread's)
        response = thread.submit(asyncio.run, coroutine).result()
    return response.deferred_file.url, response.error_msg


def test_the_session_that_drew_the_button_gets_its_file(manager):
    url, error = ask(manager, manager.file_id, "gil-session")
    assert url.startswith("/media/") and error == ""


def test_another_session_replaying_the_id_gets_what_an_unknown_id_gets(manager):
    replayed = ask(manager, manager.file_id, "ana-session")
    guessed = ask(manager, "0" * 32, "ana-session")
    assert replayed == guessed == ("", "Failed to generate file for download")


def test_installing_twice_wraps_once():
    download_guard.install()
    handle = DeferredFileHandler.handle
    download_guard.install()
    assert DeferredFileHandler.handle is handle


def test_a_manager_whose_internals_moved_refuses_every_request(manager):
    assert ask(object(), manager.file_id, "gil-session") == ("", "Failed to generate file for download")
