"""Run the Alembic migrations from code: ``migrate(url)`` upgrades a database to head.

Run migrations with the schema owner's URL (DOPPEL_DATABASE_OWNER_URL), never the app's: on
PostgreSQL the owner creates the tables, enables and FORCEs row-level security and grants the
app role (DOPPEL_DATABASE_APP_ROLE) only the privileges it needs.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from infra.db.connections import create_db_engine
from infra.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str, *, app_role: str | None = None) -> Config:
    """An Alembic ``Config`` for ``url`` that needs no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    config.attributes["app_role"] = app_role or get_settings().database_app_role
    return config


def migrate(url: str | None = None, *, revision: str = "head", app_role: str | None = None) -> None:
    """Upgrade the database at ``url`` (default: the owner URL from settings) to ``revision``."""
    command.upgrade(alembic_config(url or get_settings().database_owner_url, app_role=app_role), revision)


def downgrade(url: str | None = None, *, revision: str = "base", app_role: str | None = None) -> None:
    """Downgrade the database at ``url`` to ``revision`` (default: empty)."""
    command.downgrade(alembic_config(url or get_settings().database_owner_url, app_role=app_role), revision)


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision in ``infra/migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migration revisions found"
    return head
