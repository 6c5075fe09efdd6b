"""Alembic environment for Doppel's metadata database.

Run programmatically through ``infra.db.migrate(url)`` (which passes the URL and the app role
in the config's attributes), or from the command line:
``alembic -c infra/alembic.ini -x url=postgresql+psycopg://owner@host/db upgrade head``.
Without ``-x url=`` the command line uses DOPPEL_DATABASE_OWNER_URL (or DOPPEL_DATABASE_URL).
"""

from __future__ import annotations

from alembic import context

from infra.db.models import Base
from infra.db.connections import create_db_engine
from infra.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or get_settings().database_owner_url
    )


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite alters tables by copying them
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_db_engine(_url())
    try:
        with engine.connect() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
