"""Ingestion: turn files, uploads, object-store keys and database tables into polars frames.

Public entry points (re-exported lazily as ``engine.read``, ``engine.scan``, ``engine.read_sql``
and ``engine.read_sql_tables``):

- :mod:`engine.data.files` reads CSV/TSV, Parquet, JSON and NDJSON (plain, gzip or zstd) from a
  path, an ``s3://`` URI, bytes or an uploaded file object;
- :mod:`engine.data.sql` reads tables or read-only SELECTs from PostgreSQL and MySQL/MariaDB
  (Snowflake, BigQuery and Databricks through optional extras);
- :mod:`engine.data.connections` checks a connection string before anything connects.

This package's ``__init__`` imports nothing: ``import engine`` must stay free of SQLAlchemy,
database drivers and boto3, which the submodules load only when they are used.
"""
