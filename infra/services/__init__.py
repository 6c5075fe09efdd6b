"""Tenant-scoped use cases: what pages and workers call.

Every service takes the tenant first, as a keyword, so that no call can reach another
tenant's data by leaving it out; pages never touch the database session or the object store.
"""
