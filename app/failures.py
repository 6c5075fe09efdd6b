"""Turn an exception into the one message a page shows: never a traceback, never the engine's argument names.

``engine.DoppelError`` (and its subclasses) are raised on purpose with a message a user can
act on, so that message is shown, in the UI's words (``ui_words``). Anything else is a bug of
ours: the user gets a generic message with a short reference, and the log gets the traceback
under that reference.

``ui_words`` is the one translation from the engine's language (written for notebook users:
"pass holdout=", "allow_private=True") into what a workbench user does instead ("choose a
holdout on the Quality page", "ask an admin to allow private hosts"). Every page text that
comes from the engine goes through it: error messages here, job errors on job cards, the
report's recommendations, notes and gate messages.
"""

from __future__ import annotations

import logging
import re
import uuid

import streamlit as st

from app.components.literal_text import markdown_literal
from engine.errors import DoppelError

logger = logging.getLogger("doppel.app")


# (engine phrase, the UI's words), most specific first. A phrase names an argument of an engine
# call; the words say what the workbench user does instead, and on which page.
_ENGINE_PHRASES: tuple[tuple[str, str], ...] = (
    (r"pass holdout=None to assess without one", "choose no holdout on the Quality page to assess without one"),
    (r"(?:pass |set |with )?holdout=(?!None)", "choose a holdout on the Quality page"),
    (r"unless allow_private=True", "unless an admin allows private hosts"),
    (r"(?:pass |set |with )?allow_private=True", "ask an admin to allow private hosts"),
    (r"pass target= to measure utility", "choose a target column on the Quality page to measure utility"),
    (r"pass target= to choose", "choose the target column on the Quality page"),
    (r"(?:pass |set )?target=", "choose a target column on the Quality page"),
    (r"engine\.Privacy\(epsilon=[^)]*\)", "a privacy budget (epsilon) on the Train page"),
    (r"pass encoding= with the file's real encoding(?:, e\.g\. '[^']*')?",
     "save the file as UTF-8 (or say its encoding) and upload it again"),
    (r"use device='auto' or 'cpu'", "choose the device auto or cpu on the Train page"),
    (r"pass format= \(([^)]*)\)", r"choose an output format (\1) on the Generate page"),
    (r"pass sample= or n= to read a sample", "upload a sample of the file"),
)
_PHRASES = tuple((re.compile(pattern), words) for pattern, words in _ENGINE_PHRASES)
# Whatever argument is left: "pass seed=" -> "set the seed", "epochs=" -> "epochs".
_ANY_ARGUMENT = re.compile(
    r"\b(?:pass |set )?([a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]{2,})=(?:True|False|None\b)?(?=[\s,.;:)]|$)"
)


def ui_words(text: str) -> str:
    """``text`` from the engine in the UI's words: no argument names such as "holdout=" or "allow_private=True".

    >>> ui_words("pass holdout= (real rows the generator never saw) to allow for those")
    'choose a holdout on the Quality page (real rows the generator never saw) to allow for those'
    """
    for pattern, words in _PHRASES:
        text = pattern.sub(words, text)
    return _ANY_ARGUMENT.sub(lambda m: "set the " + m[1].replace("_", " ") if m[0].startswith(("pass ", "set "))
                             else m[1].replace("_", " "), text)


def user_message(err: Exception, *, action: str) -> str:
    """The message to show for ``err``, raised while ``action`` (e.g. "profiling data.csv").

    Call it inside the ``except`` block that caught ``err`` so the logged traceback is its own.
    """
    if isinstance(err, DoppelError):
        return ui_words(str(err))
    reference = uuid.uuid4().hex[:8]
    logger.exception("unexpected error while %s (reference %s)", action, reference)
    return (
        f"Something went wrong on our side while {action}. The details are in the server log "
        f"under reference {reference}; please try again, and report the reference if it persists."
    )


def show_error(message: str) -> None:
    """Show an error message as literal text (it may quote file names or values)."""
    st.error(markdown_literal(message), icon=":material/error:")
