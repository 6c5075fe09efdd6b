"""Records: the metadata database's data access, one session-first module per kind of row.

Every public function takes a ``TenantSession`` first and works inside the caller's
transaction: catalog (datasets, models and their versions), job records, tenancy and members,
invitations, the tenant directory, audit, roles (``authz``), quotas, metering, notifications,
lineage. The use cases (``infra.usecases``) open the session and call these; records never
import the use cases, and neither do the packages below them (db, storage, cache, jobs, privacy).
"""
