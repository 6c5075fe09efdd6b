"""The platform around the engine: settings, storage, metadata, jobs, tenant-scoped services."""
