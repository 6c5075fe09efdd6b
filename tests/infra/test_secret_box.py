"""Tenant secrets are sealed at rest with a key from DOPPEL_SECRET_KEY (or the embedded key file)."""

from __future__ import annotations

import stat

import pytest

from engine.errors import ConfigError
from infra.secret_box import SECRET_KEY_FILE, SecretUnreadableError, open_sealed, seal
from infra.settings import Settings


def embedded(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'doppel.db'}")


def test_a_sealed_value_opens_with_the_same_key_and_context_only():
    settings = Settings(secret_key="k" * 40, database_url="postgresql+psycopg://x@h/db")
    token = seal({"secret_access_key": "s3cr3t"}, context="acme", settings=settings)
    assert "s3cr3t" not in token
    assert open_sealed(token, context="acme", settings=settings) == {"secret_access_key": "s3cr3t"}
    with pytest.raises(SecretUnreadableError, match="enter it again"):
        open_sealed(token, context="globex", settings=settings)
    with pytest.raises(SecretUnreadableError):
        open_sealed(token, context="acme", settings=Settings(secret_key="z" * 40, database_url=settings.database_url))


def test_the_embedded_default_keeps_a_generated_key_in_a_0600_file(tmp_path):
    token = seal({"v": 1}, context="local", settings=embedded(tmp_path))
    key_file = tmp_path / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert open_sealed(token, context="local", settings=embedded(tmp_path)) == {"v": 1}  # the same key next start


def test_a_shared_database_without_a_secret_key_is_refused_in_words(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://app@db/doppel")
    with pytest.raises(ConfigError, match="DOPPEL_SECRET_KEY is not set"):
        seal({"v": 1}, context="acme", settings=settings)
    assert not (tmp_path / SECRET_KEY_FILE).exists()
