"""The platform around the engine: settings, storage, metadata, jobs, records and tenant-first use cases."""
