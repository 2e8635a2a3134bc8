"""Runs: the stage functions the notebooks call, the papermill runner, the immutable run-record store (typed RunManifest) with its index and HTML reports, provenance, ad-hoc scoring and reruns."""
