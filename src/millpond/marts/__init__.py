"""Feature marts: sources (files, SQL databases), DuckDB transforms, data contracts, typing, streaming ingest, and the content-addressed MartStore with its typed MartManifest."""
