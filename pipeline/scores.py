"""Classification scores with scikit-learn: accuracy, macro-F1, per class, confusion; how well
probabilities are calibrated (expected calibration error, reliability bins); and how far a figure
read on a few persons' photos could move on other persons (person bootstrap intervals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from facemood.emotions import EMOTIONS, NUM_CLASSES


def classification_scores(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Metrics of ``probabilities`` (n,7) against true ``labels`` (n,), as plain JSON types."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    predicted = probabilities.argmax(axis=1)
    classes = list(range(NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0)
    return {
        "count": int(len(labels)),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "macro_f1": round(float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)), 4),
        "per_class": {
            name: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                   "support": int(s)}
            for name, p, r, f, s in zip(EMOTIONS, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Per equal-width bin of the top probability: its range, count, mean confidence and accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                      "confidence": float(confidence[inside].mean()) if count else 0.0,
                      "accuracy": float(correct[inside].mean()) if count else 0.0})
    return table


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE on the top probability: sum over bins of (share of rows) x |accuracy - confidence|."""
    table = reliability(probs, labels, bins)
    total = max(sum(row["count"] for row in table), 1)
    return float(sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in table))


def sampling_ece(probs: np.ndarray, bins: int = 15, draws: int = 1000, seed: int = 0) -> tuple[float, float]:
    """What the ECE of a *perfectly* calibrated model with these top probabilities reads on this many
    rows, from sampling alone: its median and 90th percentile over ``draws`` simulated label sets
    (each row right with the probability it states). An ECE near these is all a set this size can
    tell apart from perfect calibration."""
    confidence = probs.max(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    correct = np.random.default_rng(seed).random((draws, len(confidence))) < confidence
    gap = np.zeros(draws)
    for b in range(bins):
        inside = which == b
        if inside.any():
            gap += np.abs(correct[:, inside].sum(axis=1) - confidence[inside].sum())
    errors = gap / max(len(confidence), 1)
    return float(np.median(errors)), float(np.percentile(errors, 90))


def person_resamples(persons: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """A person bootstrap: how many times each person (in ``np.unique(persons)`` order) is drawn,
    with replacement, in each of ``draws`` resamples of as many persons; (draws, persons) counts.

    A person's photos are drawn together: they were taken together and resemble each other, so
    they are one piece of evidence about new persons, not one each.
    """
    count = len(np.unique(persons))
    return np.random.default_rng(seed).multinomial(count, np.full(count, 1.0 / count), size=draws)


def person_bootstrap_interval(statistic: Callable[[np.ndarray], float], persons: np.ndarray, draws: int = 2000,
                              seed: int = 0, level: float = 0.9) -> tuple[float, float]:
    """The central ``level`` interval of a figure over person resamples: the range other persons
    like these would put it in. ``statistic`` takes a weight per photo (how many times its person
    was drawn) and returns the figure (NaN where a resample leaves it undefined: those are skipped)."""
    _, person = np.unique(np.asarray(persons), return_inverse=True)
    values = np.array([statistic(counts[person].astype(np.float64))
                       for counts in person_resamples(persons, draws, seed)])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return float(low), float(high)


def weighted_share(hits: np.ndarray, of: np.ndarray, weights: np.ndarray) -> float:
    """The weighted share of the photos marked ``of`` that are also ``hits`` (a recall: hits = read
    as the class, of = labelled so; a precision: hits = right flags, of = flags); NaN when no weight
    falls on ``of``."""
    total = float(weights[of].sum())
    return float(weights[hits & of].sum()) / total if total else float("nan")


def weighted_macro_f1(labels: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """Macro-F1 over the seven emotions with per-photo weights (as :func:`classification_scores`)."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predicted, labels=list(range(NUM_CLASSES)), average="macro",
                          sample_weight=weights, zero_division=0))


def flag_figures(scores: np.ndarray, truly: np.ndarray, threshold: float) -> tuple[float, float, int]:
    """Precision, recall and number of flags of ``scores >= threshold`` against ``truly`` (0 for
    a precision with no flag and a recall with nothing to find)."""
    flags = np.asarray(scores) >= threshold
    hits = int((flags & truly).sum())
    return hits / max(int(flags.sum()), 1), hits / max(int(truly.sum()), 1), int(flags.sum())
