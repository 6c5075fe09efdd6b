"""A deferred download answers only the browser session it was handed to.

A download button whose data is a callable (the Generate page's file, the Quality page's HTML
report) gives its browser a placeholder id; a click sends that id back over the websocket and
the server runs the callable — which holds the workspace (tenant) and user of the session that
drew the button — and answers with a ``/media`` URL of the result. Streamlit (1.67) runs the
callable for whichever session sends the id: a user of another workspace who replays an id
(from a shared screen recording, a HAR file, a proxy log) gets that workspace's file.

``install()`` (called by ``app/main.py``) wraps Streamlit's handler of these requests: an id
that another session registered is answered exactly as an id that exists nowhere ("Failed to
generate file for download"), so the answer does not even say that the id exists. If a
Streamlit upgrade moves the internals this reads, every request is refused (downloads stop
working, loudly in the tests) rather than served to anyone.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("doppel.app")

UNKNOWN_FILE_MESSAGE = "Failed to generate file for download"  # Streamlit's answer to an unknown id
_GUARD_FLAG = "_doppel_session_guard"


def owner_session(manager: Any, file_id: str) -> str | None:
    """The id of the session that registered deferred download ``file_id`` (None: unknown, or unreadable)."""
    try:
        with manager._lock:
            entry = manager._deferred_callables.get(file_id)
            return None if entry is None else entry["session_id"]
    except (AttributeError, KeyError, TypeError):
        logger.error("cannot read Streamlit's deferred downloads: every download request is refused")
        return None


def install() -> None:
    """Make Streamlit's deferred-download handler refuse ids registered by another session (idempotent)."""
    from streamlit.proto.ForwardMsg_pb2 import BackendOperationResponse
    from streamlit.runtime.backend_operation_handler import DeferredFileHandler

    original = DeferredFileHandler.handle
    if getattr(original, _GUARD_FLAG, False):
        return

    async def handle(self: DeferredFileHandler, request: Any, session_id: str) -> BackendOperationResponse:
        if owner_session(self._get_media_file_mgr(), request.deferred_file.file_id) != session_id:
            return BackendOperationResponse(request_id=request.request_id, error_msg=UNKNOWN_FILE_MESSAGE)
        return await original(self, request, session_id)

    setattr(handle, _GUARD_FLAG, True)
    DeferredFileHandler.handle = handle  # type: ignore[method-assign]


__all__ = ["UNKNOWN_FILE_MESSAGE", "install", "owner_session"]
