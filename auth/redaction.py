"""Keep secrets out of the logs: a logging filter that blanks them in every record.

Installed by the workbench at start-up on the root logger's handlers with the secret values
of the ``[auth]`` section (cookie secret, client secrets). It also blanks, whatever their
value, share-link tokens in URLs (``share=…``), passwords in connection URLs
(``scheme://user:password@host``) and ``client_secret=`` / ``password=`` assignments, so a
URL or a configuration dump that reaches a log message (or an exception's message)
carries none of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8

_PATTERNS = (
    (re.compile(r"(?i)\b(share=)[A-Za-z0-9_\-]{16,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+(@)"), r"\1" + REDACTED + r"\2"),
    (re.compile(r"(?i)\b((?:client_secret|cookie_secret|password|token)\s*[=:]\s*[\"']?)[^\s\"',&]+"), r"\1" + REDACTED),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secret values and the secret-looking patterns blanked."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretRedactor(logging.Filter):
    """Rewrites a record's message (and exception text) with ``redact`` before it is emitted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted, self.secrets)
            record.exc_info = None
        return True


def install(secrets: Iterable[str] = (), *, logger: logging.Logger | None = None) -> SecretRedactor:
    """Attach one ``SecretRedactor`` to every handler of ``logger`` (default: the root logger).

    Handler filters see the records of every child logger too (a logger's own filters do
    not); calling it again replaces the previous redactor.
    """
    target = logger or logging.getLogger()
    redactor = SecretRedactor(secrets)
    for handler in target.handlers:
        for existing in [f for f in handler.filters if isinstance(f, SecretRedactor)]:
            handler.removeFilter(existing)
        handler.addFilter(redactor)
    return redactor
