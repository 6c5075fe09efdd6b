"""Use cases: what pages, the API and workers call, one module per thing a user does.

Every use case takes the tenant first and opens its own tenant session and transaction around
the records (``infra.records``) it calls, so that no call can reach another tenant's data by
leaving the tenant out, and a page never holds a database session or touches the object store.
Nothing else in infra imports this package: records and the packages below them (db, storage,
cache, jobs, privacy) never do.
"""
