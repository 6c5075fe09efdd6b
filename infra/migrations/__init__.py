"""Alembic migrations of the metadata database (a package so that installs ship the revisions)."""
