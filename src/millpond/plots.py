"""Small matplotlib figures for the stage notebooks (the reports people read)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def _axes(title: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.set_title(title)
    return fig, ax


def drift_impact(table: pd.DataFrame | None, top: int = 12) -> None:
    """Bar chart of drift impact (drift score x importance) per feature, most impactful first."""
    if table is None or table.empty:
        return
    import matplotlib.pyplot as plt

    data = table.sort_values("impact", ascending=False).head(top)
    fig, ax = _axes("Drift impact per feature (drift score × champion importance)")
    colors = ["#c0392b" if d else "#7f8c8d" for d in data["drifted"]]
    ax.barh(data["feature"][::-1], data["impact"][::-1], color=colors[::-1])
    ax.set_xlabel("impact (red: feature drifted)")
    fig.tight_layout()
    plt.show()


def importance(table: pd.DataFrame | None, top: int = 12) -> None:
    """Bar chart of normalised permutation importance."""
    if table is None or table.empty:
        return
    import matplotlib.pyplot as plt

    data = table.iloc[:, 0].sort_values(ascending=False).head(top)
    fig, ax = _axes("Permutation importance (normalised to sum to 1)")
    ax.barh(data.index[::-1], data.to_numpy()[::-1], color="#2e86c1")
    fig.tight_layout()
    plt.show()
