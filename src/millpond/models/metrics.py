"""Binary-classification metrics of a whole window in memory that does not grow with it.

scikit-learn's ``roc_auc_score``, ``average_precision_score`` and ``log_loss`` hold several full-length copies of
the labels and scores at once (one-hot targets, curves, masks): ~2 GB at 20 million rows. The functions here sort
once and then walk the sorted rows in blocks of :data:`BLOCK` distinct scores, keeping running totals, so their
extra memory is the sort plus one block. On data of up to one block they compute exactly what
:func:`millpond.drift.kpis.weighted_roc_auc` / ``weighted_average_precision`` compute with unit weights (the same
operations in the same order); longer data changes only the order of the additions. Each equals scikit-learn's
value to float precision (tested).
"""

from __future__ import annotations

import numpy as np

BLOCK = 1 << 20
"""Distinct scores (or rows) per block of the running totals."""

LEAN_ROWS = 1_000_000
"""Above this many rows :func:`binary_metrics` replaces scikit-learn's metrics (which it equals to ~1e-12)."""


def _groups(sorted_scores: np.ndarray) -> np.ndarray:
    """The first row of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def _blocks(starts: np.ndarray, rows: int, block: int) -> list[tuple[int, int, int, int]]:
    """``(first group, end group, first row, end row)`` of consecutive blocks of ``block`` groups."""
    out = []
    for g0 in range(0, len(starts), block):
        g1 = min(g0 + block, len(starts))
        out.append((g0, g1, int(starts[g0]), int(starts[g1]) if g1 < len(starts) else rows))
    return out


def roc_auc(y: np.ndarray, scores: np.ndarray, block: int = BLOCK) -> float:
    """ROC AUC of ``scores`` for labels (or positive probabilities) ``y``, ties counting half; NaN with one class."""
    scores = np.asarray(scores, dtype="float64")
    order = np.argsort(scores, kind="mergesort")
    starts = _groups(scores[order])
    yy = np.asarray(y, dtype="float64")[order]
    del order
    area, neg_before, pos_total, neg_total = 0.0, 0.0, 0.0, 0.0
    for g0, g1, r0, r1 in _blocks(starts, len(yy), block):
        part, local = yy[r0:r1][None, :], (starts[g0:g1] - r0)
        pos = np.add.reduceat(part, local, axis=1)
        neg = np.add.reduceat(1.0 - part, local, axis=1)
        below = neg_before + (np.cumsum(neg, axis=1) - neg)
        area += float((pos * (below + 0.5 * neg)).sum(axis=1)[0])
        block_neg = float(neg.sum(axis=1)[0])
        neg_before, pos_total, neg_total = (
            neg_before + block_neg,
            pos_total + float(pos.sum(axis=1)[0]),
            neg_total + block_neg,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(area) / (np.float64(pos_total) * np.float64(neg_total)))


def average_precision(y: np.ndarray, scores: np.ndarray, block: int = BLOCK) -> float:
    """Average precision of ``scores`` for 0/1 labels ``y`` (tied scores entering together); NaN without positives."""
    scores = np.asarray(scores, dtype="float64")
    order = np.argsort(-scores, kind="mergesort")  # rows by descending score
    sorted_scores = scores[order]
    starts = _groups(sorted_scores)
    grouped = len(starts) < len(sorted_scores)
    del sorted_scores
    positive = (np.asarray(y, dtype="float64")[order] == 1).astype("float64")
    del order
    total, tps_before, seen_before = 0.0, 0.0, 0.0
    for g0, g1, r0, r1 in _blocks(starts, len(positive), block):
        pos = positive[r0:r1][None, :]
        w = np.ones_like(pos)
        if grouped:
            local = starts[g0:g1] - r0
            pos, w = np.add.reduceat(pos, local, axis=1), np.add.reduceat(w, local, axis=1)
        tps = tps_before + np.cumsum(pos, axis=1)
        seen = seen_before + np.cumsum(w, axis=1)
        precision = np.divide(tps, seen, out=seen, where=seen > 0)
        total += float(np.einsum("ij,ij->i", pos, precision)[0])
        tps_before, seen_before = float(tps[0, -1]), seen_before + float(w.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(total) / np.float64(tps_before))


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """n, positive_rate, accuracy, F1 (0 when undefined), Brier, and with both classes ROC AUC, PR AUC and log loss
    (probabilities clipped to [1e-15, 1 - 1e-15]), as ``metrics_from_scores`` reports them, in blocks."""
    positive = np.asarray(y) == 1
    scores = np.asarray(scores, dtype="float64")
    n = len(positive)
    predicted = scores >= threshold
    tp = int(np.count_nonzero(predicted & positive))
    fp, fn = int(np.count_nonzero(predicted)) - tp, int(np.count_nonzero(positive)) - tp
    out = {"n": n, "positive_rate": float(np.count_nonzero(positive) / n), "accuracy": float((n - fp - fn) / n)}
    out["f1"] = float(2 * tp / (2 * tp + fp + fn)) if 2 * tp + fp + fn else 0.0
    brier = log_loss = 0.0
    for start in range(0, n, BLOCK):
        s, p = scores[start : start + BLOCK], positive[start : start + BLOCK]
        brier += float(np.sum((s - p) ** 2))
        clipped = np.clip(s, 1e-15, 1 - 1e-15)
        log_loss -= float(np.sum(np.where(p, np.log(clipped), np.log1p(-clipped))))
    out["brier"] = brier / n
    if 0 < np.count_nonzero(positive) < n:
        out["roc_auc"] = roc_auc(positive, scores)
        out["pr_auc"] = average_precision(positive, scores)
        out["log_loss"] = log_loss / n
    return out
