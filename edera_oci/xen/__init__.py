"""Everything that speaks to Xen: XenStore, libxenvchan and domains (through xl)."""
