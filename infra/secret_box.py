"""Tenant secrets at rest: sealed with Fernet under a key derived from ``DOPPEL_SECRET_KEY``.

A secret a tenant hands the platform (an S3 secret access key) is stored only as a Fernet
token (AES-128-CBC with HMAC-SHA256, from ``cryptography``): a copy of the metadata database
or a backup reveals nothing without the server's key. The Fernet key is derived with HKDF from
the ``secret_key`` setting, so the setting may be any long random string.

- Production sets ``DOPPEL_SECRET_KEY`` (the same on every web and worker process); without it
  nothing is sealed or opened there, since a key made up by one process would be lost with it.
- The embedded default (SQLite under ``DOPPEL_DATA_DIR``) generates a random key on first use
  and keeps it in ``DOPPEL_DATA_DIR/secret_key`` with 0600 permissions, next to the database
  it protects, the way a single-user install expects.

Each sealed value names what it belongs to (``context``, e.g. the tenant): opening it for
another context fails, so a token copied from one tenant's row into another's opens nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from infra.settings import Settings, get_settings

SECRET_KEY_FILE = "secret_key"
"""The embedded default's key file, inside ``DOPPEL_DATA_DIR``."""
_HKDF_INFO = b"doppel tenant secrets v1"


class SecretUnreadableError(ConfigError):
    """A sealed value cannot be opened with this server's key (the key changed, or the row did)."""


def _embedded_secret(settings: Settings) -> bytes:
    if not settings.database_url.startswith("sqlite"):
        raise ConfigError(
            "DOPPEL_SECRET_KEY is not set: a server with a shared metadata database needs one secret key "
            "(a long random string, the same for every process) to encrypt the secrets tenants store"
        )
    path = Path(settings.data_dir) / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        secret = path.read_bytes().strip()
        if len(secret) < 32:
            raise ConfigError(f"{path} holds no usable secret key; set DOPPEL_SECRET_KEY or restore the file") from None
        return secret
    secret = secrets.token_urlsafe(48).encode()
    with os.fdopen(fd, "wb") as out:
        out.write(secret + b"\n")
    return secret


def _fernet(settings: Settings) -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = settings.secret_key.get_secret_value().encode() or _embedded_secret(settings)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: dict[str, Any], *, context: str, settings: Settings | None = None) -> str:
    """``value`` (JSON-able) encrypted and authenticated for ``context``: a Fernet token (text)."""
    payload = json.dumps({"context": context, "value": value}, separators=(",", ":")).encode()
    return _fernet(settings or get_settings()).encrypt(payload).decode("ascii")


def open_sealed(token: str, *, context: str, settings: Settings | None = None) -> dict[str, Any]:
    """The value :func:`seal` sealed for ``context``; :class:`SecretUnreadableError` otherwise."""
    from cryptography.fernet import InvalidToken

    try:
        payload = json.loads(_fernet(settings or get_settings()).decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError, UnicodeError):
        payload = None
    if not isinstance(payload, dict) or payload.get("context") != context or not isinstance(payload.get("value"), dict):
        raise SecretUnreadableError(
            "a stored secret cannot be decrypted with this server's secret key (DOPPEL_SECRET_KEY changed?); "
            "an admin must enter it again"
        )
    return payload["value"]


__all__ = ["SECRET_KEY_FILE", "SecretUnreadableError", "open_sealed", "seal"]
