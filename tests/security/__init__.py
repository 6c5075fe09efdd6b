"""Attack and abuse cases from the hostile-tenant probe (issue 14), one table-driven file per area."""
