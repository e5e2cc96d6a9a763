"""Reliability diagrams: per confidence bin, how often the top label was right versus how sure the model was.

``reliability_table`` gives the numbers (the same bins as ``top_label_ece``, so the table's weighted gap *is*
the ECE); ``plot_reliability`` draws them: bars at the observed accuracy, the diagonal of perfect calibration,
and the gap shaded. scikit-learn's ``calibration_curve`` draws the same curve for one class at a time.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from medfusion_lib.calibration.checks import check_proba
from medfusion_lib.calibration.metrics import bin_edges, bin_index


def reliability_table(y_true, proba, n_bins: int = 15, strategy: str = "uniform") -> pd.DataFrame:
    """One row per bin: ``bin, lower, upper, count, confidence, accuracy, gap``.

    ``confidence`` and ``accuracy`` are the bin's mean top-class probability and the fraction of its
    patients whose top class was right (NaN for an empty bin); ``gap = accuracy - confidence``
    (negative: over-confident). ``(count / n * |gap|).sum()`` equals ``top_label_ece`` with the same bins.
    """
    y, proba = check_proba(y_true, proba)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    edges = bin_edges(confidence, n_bins, strategy)
    ids = bin_index(confidence, edges)
    count = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(ids, confidence, n_bins) / count
        accuracy = np.bincount(ids, correct, n_bins) / count
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "count": count,
                         "confidence": mean_conf, "accuracy": accuracy, "gap": accuracy - mean_conf})


def ece_from_table(table: pd.DataFrame) -> float:
    """The ECE a reliability table implies: bin-size-weighted mean of |gap| over non-empty bins."""
    filled = table[table["count"] > 0]
    return float((filled["count"] * filled["gap"].abs()).sum() / filled["count"].sum())


def plot_reliability(table: pd.DataFrame, ax=None, title: str | None = None, show_counts: bool = True):
    """Draw one reliability diagram from :func:`reliability_table`; returns the matplotlib Axes.

    Bars: observed accuracy per bin (width = the bin); red hatch: the gap to the bin's mean confidence;
    dashed diagonal: perfect calibration. The title defaults to the ECE the table implies. With
    ``show_counts`` a thin histogram along the bottom shows how many patients each bin holds.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    filled = table[table["count"] > 0]
    widths = filled["upper"] - filled["lower"]
    ax.bar(filled["lower"], filled["accuracy"], width=widths, align="edge", color="tab:blue",
           edgecolor="white", label="accuracy")
    ax.bar(filled["lower"], filled["confidence"] - filled["accuracy"], bottom=filled["accuracy"], width=widths,
           align="edge", color="tab:red", alpha=0.3, hatch="//", edgecolor="tab:red", label="gap")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    if show_counts and len(filled):
        share = filled["count"] / filled["count"].sum()
        ax.bar(filled["lower"], 0.15 * share / share.max(), width=widths, align="edge", color="black",
               alpha=0.25, label="share of patients")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title if title is not None else f"ECE = {ece_from_table(table):.3f}")
    return ax
