"""Fixtures of the engine tests: the ingestion fixtures of ``tests.engine.data_fixtures``, registered once.

A session-scoped fixture imported into several test modules is registered, and set up, once per
module (adult.csv was read seven times, once per ingestion module); registered here it is set up
once for the package. Module-scoped ones (the S3 server, the loaded databases) stay one per module.
"""

from tests.engine.data_fixtures import (
    adult_bytes,
    adult_frame,
    adult_head,
    baseball_db,
    baseball_slice,
    mariadb_baseball,
    postgres_baseball,
    s3_server,
)

__all__ = ["adult_bytes", "adult_frame", "adult_head", "baseball_db", "baseball_slice", "mariadb_baseball",
           "postgres_baseball", "s3_server"]
