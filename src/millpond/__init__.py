"""millpond: notebook-first MLOps on one machine."""

__version__ = "0.1.0"
