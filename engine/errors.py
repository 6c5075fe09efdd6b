"""The errors the engine raises on purpose.

Every error a user can cause carries a message that names the problem: which file, which
line or column, what was expected. Callers (pages, workers) show ``str(err)`` as-is, so the
message must be readable without a traceback. ``DoppelError`` is the one class to catch.
"""

from __future__ import annotations


class DoppelError(Exception):
    """Base class for every error the engine raises on purpose."""


class InputError(DoppelError, ValueError):
    """The data handed to the engine cannot be used (empty, ragged, wrong format, too big)."""


class LimitExceededError(InputError):
    """The input is larger than a configured cap (bytes, rows, decompressed size)."""


class UnsafeConnectionError(DoppelError):
    """A connection string was refused before connecting (host not allowed, unsafe option)."""


class SourceUnavailableError(DoppelError):
    """A database or object store could not be reached, or refused the credentials."""


class ConfigError(DoppelError, ValueError):
    """A parameter passed to the engine is invalid; the message says what is allowed."""

__all__ = [
    "DoppelError",
    "InputError",
    "LimitExceededError",
    "UnsafeConnectionError",
    "SourceUnavailableError",
    "ConfigError",
]
