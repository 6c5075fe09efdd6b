"""Turn an exception into the one message a page shows: never a traceback.

``engine.DoppelError`` (and its subclasses) are raised on purpose with a message a user can
act on, so that message is shown as-is. Anything else is a bug of ours: the user gets a
generic message with a short reference, and the log gets the traceback under that reference.
"""

from __future__ import annotations

import logging
import uuid

import streamlit as st

from app.components.literal_text import markdown_literal
from engine.errors import DoppelError

logger = logging.getLogger("doppel.app")


def user_message(err: Exception, *, action: str) -> str:
    """The message to show for ``err``, raised while ``action`` (e.g. "profiling data.csv").

    Call it inside the ``except`` block that caught ``err`` so the logged traceback is its own.
    """
    if isinstance(err, DoppelError):
        return str(err)
    reference = uuid.uuid4().hex[:8]
    logger.exception("unexpected error while %s (reference %s)", action, reference)
    return (
        f"Something went wrong on our side while {action}. The details are in the server log "
        f"under reference {reference}; please try again, and report the reference if it persists."
    )


def show_error(message: str) -> None:
    """Show an error message as literal text (it may quote file names or values)."""
    st.error(markdown_literal(message), icon=":material/error:")
