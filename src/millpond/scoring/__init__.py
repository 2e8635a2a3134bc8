"""Scoring: record-batch scoring with the champion and a shadow challenger, Dask predict, the input contract, data capture, late labels and smoke tests."""
