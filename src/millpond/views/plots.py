"""Small matplotlib figures for the stage notebooks (the reports people read)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _axes(title: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.set_title(title)
    return fig, ax


def _show(fig: Any) -> None:
    """Show ``fig`` in the notebook as one PNG and close it. Drawn once: the inline backend's default
    ``bbox_inches="tight"`` draws every figure twice to crop it, which each figure here already does by
    ``tight_layout``."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="png"))


def drift_impact(table: pd.DataFrame | None, top: int = 12) -> None:
    """Bar chart of drift impact (drift score x importance) per feature, most impactful first."""
    if table is None or table.empty:
        return

    data = table.sort_values("impact", ascending=False).head(top)
    fig, ax = _axes("Drift impact per feature (drift score × champion importance)")
    colors = ["#c0392b" if d else "#7f8c8d" for d in data["drifted"]]
    ax.barh(data["feature"][::-1], data["impact"][::-1], color=colors[::-1])
    ax.set_xlabel("impact (red: feature drifted)")
    fig.tight_layout()
    _show(fig)


def importance(table: pd.DataFrame | None, top: int = 12) -> None:
    """Bar chart of normalised permutation importance."""
    if table is None or table.empty:
        return

    data = table.iloc[:, 0].sort_values(ascending=False).head(top)
    fig, ax = _axes("Permutation importance (normalised to sum to 1)")
    ax.barh(data.index[::-1], data.to_numpy()[::-1], color="#2e86c1")
    fig.tight_layout()
    _show(fig)


def roc_and_pr_curves(labels: np.ndarray, scores: np.ndarray) -> None:
    """ROC and precision-recall curves of held-out scores, with their areas."""
    import matplotlib.pyplot as plt
    from sklearn import metrics as skm

    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(9, 3.8))
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    roc_ax.plot(fpr, tpr, color="#2e86c1", label=f"AUC {skm.roc_auc_score(labels, scores):.3f}")
    roc_ax.plot([0, 1], [0, 1], color="#aaaaaa", linestyle="--")
    roc_ax.set(title="ROC curve (holdout)", xlabel="false positive rate", ylabel="true positive rate")
    roc_ax.legend(loc="lower right")
    precision, recall, _ = skm.precision_recall_curve(labels, scores)
    pr_ax.plot(recall, precision, color="#c0392b", label=f"AP {skm.average_precision_score(labels, scores):.3f}")
    pr_ax.axhline(float(np.mean(labels)), color="#aaaaaa", linestyle="--")
    pr_ax.set(title="Precision-recall curve (holdout)", xlabel="recall", ylabel="precision")
    pr_ax.legend(loc="upper right")
    fig.tight_layout()
    _show(fig)


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> None:
    """Reliability diagram: observed positive rate per bin of predicted probability."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(labels, scores, n_bins=bins, strategy="quantile")
    fig, ax = _axes("Calibration (holdout, quantile bins)")
    ax.plot([0, 1], [0, 1], color="#aaaaaa", linestyle="--", label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", color="#2e86c1", label="model")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate")
    ax.legend(loc="upper left")
    fig.tight_layout()
    _show(fig)


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> None:
    """Confusion matrix at ``threshold`` with counts in each cell."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(labels.astype(int), (scores >= threshold).astype(int), labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        dark = count > matrix.max() / 2  # a dark cell gets a white number, a light one a black number
        ax.text(j, i, str(count), ha="center", va="center", color="white" if dark else "black", fontsize=12)
    ax.set(
        title=f"Confusion matrix (threshold {threshold})",
        xlabel="predicted",
        ylabel="actual",
        xticks=[0, 1],
        yticks=[0, 1],
    )
    fig.tight_layout()
    _show(fig)


def residuals(labels: np.ndarray, predictions: np.ndarray) -> None:
    """Residuals against predictions, and their distribution."""
    import matplotlib.pyplot as plt

    error = labels - predictions
    fig, (scatter_ax, hist_ax) = plt.subplots(1, 2, figsize=(9, 3.5))
    scatter_ax.scatter(predictions, error, s=6, alpha=0.4, color="#2e86c1")
    scatter_ax.axhline(0, color="#c0392b")
    scatter_ax.set(title="Residuals vs prediction (holdout)", xlabel="prediction", ylabel="actual - prediction")
    hist_ax.hist(error, bins=40, color="#7f8c8d")
    hist_ax.set(title="Residual distribution", xlabel="actual - prediction")
    fig.tight_layout()
    _show(fig)


def training_report(result: Any) -> None:
    """Every plot of the train stage: holdout curves for the task, then feature importance (nothing when skipped)."""
    data = getattr(result, "data", None) or {}
    scores = data.get("holdout_scores")
    if scores is None or scores.empty:
        return
    labels, values = scores["label"].to_numpy(), scores["score"].to_numpy()
    if data.get("task") == "classification":
        if len(np.unique(labels)) == 2:
            roc_and_pr_curves(labels, values)
            calibration(labels, values)
        confusion(labels, values)
    else:
        residuals(labels.astype(float), values)
    importance(data.get("importance"))


def drift_distributions(data: dict[str, Any] | None, top: int = 4, bins: int = 30) -> None:
    """Reference vs current distribution of the ``top`` most impactful features (histograms or category shares)."""
    if not data or data.get("table") is None or data["table"].empty:
        return
    import matplotlib.pyplot as plt

    table, reference, current = data["table"], data["reference"], data["current"]
    features = table.sort_values("impact", ascending=False)["feature"].head(top).tolist()
    fig, axes = plt.subplots(1, len(features), figsize=(4 * len(features), 3.2), squeeze=False)
    for ax, feature in zip(axes[0], features):
        ref, cur = reference[feature].dropna(), current[feature].dropna()
        if feature in data.get("categorical", []):
            shares = pd.DataFrame(
                {
                    "reference": ref.astype(str).value_counts(normalize=True),
                    "current": cur.astype(str).value_counts(normalize=True),
                }
            ).fillna(0.0)
            shares.plot.bar(ax=ax, color=["#7f8c8d", "#c0392b"], rot=30)
            ax.set_ylabel("share")
        else:
            edges = np.histogram_bin_edges(np.concatenate([ref.to_numpy(float), cur.to_numpy(float)]), bins=bins)
            ax.hist(ref, bins=edges, density=True, alpha=0.55, color="#7f8c8d", label="reference")
            ax.hist(cur, bins=edges, density=True, alpha=0.55, color="#c0392b", label="current")
            ax.legend(fontsize=8)
        row = table.set_index("feature").loc[feature]
        ax.set_title(f"{feature}\nimpact {row['impact']:.3f}", fontsize=9)
    fig.suptitle("Reference (champion's training data) vs current window: most impactful features", fontsize=10)
    fig.tight_layout()
    _show(fig)


def estimate_vs_realised(history: pd.DataFrame | None) -> None:
    """The label-free (CBPE) ROC AUC estimate next to the realised one, per window; red where they diverge."""
    if history is None or history.empty:
        return

    fig, ax = _axes("Estimated (CBPE, no labels) vs realised ROC AUC per window")
    ax.plot(history["window"], history["estimated"], "o--", color="#2980b9", label="estimated")
    ax.plot(history["window"], history["realised"], "s-", color="#2c3e50", label="realised")
    bad = history[history["trusted"] == False]  # noqa: E712 - None means unknown
    if not bad.empty:
        ax.scatter(
            bad["window"],
            bad["estimated"],
            s=120,
            facecolors="none",
            edgecolors="#c0392b",
            label="not trusted (concept-like)",
        )
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    _show(fig)
