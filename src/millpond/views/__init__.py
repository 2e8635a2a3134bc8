"""Read-only views over the stores: terminal tables, plots for the notebooks, lineage, the dtale drift view."""
