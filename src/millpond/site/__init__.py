"""The control room: a static site over every store (``millpond site``, and the end of every cycle).

``build_site(ws)`` writes plain HTML pages with inline CSS, SVG and JavaScript into ``<workspace>/site``: a home
card per use case, each use case's KPI, drift and decisions over windows, a registry page per model with a model
card per version, and the runs with filters and comparison. They open from ``file://`` and fetch nothing.
"""

from millpond.site.build import build_site, refresh_site

__all__ = ["build_site", "refresh_site"]
