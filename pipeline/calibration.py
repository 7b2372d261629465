"""Probabilities that mean what they say: temperature scaling, fitted on one half of the
validation rows and reported (expected calibration error) on the other half.

The temperature divides the network's logits inside the exported graph, before each softmax
(and before the flip average), so every caller of the bundle gets calibrated probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from facemood.emotions import IMAGE_SIDE, NUM_CLASSES
from facemood.faceset import FaceSet
from pipeline.model import tta_views
from pipeline.scores import expected_calibration_error, reliability
from pipeline.train import to_tensor

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.25, 10.0


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and the figures that justify it."""

    temperature: float
    fit_rows: int
    report_rows: int
    bins: int
    ece_before: float  # on the report rows, temperature 1
    ece_after: float  # on the report rows, the fitted temperature
    nll_before: float
    nll_after: float
    reliability_before: list[dict[str, float]]
    reliability_after: list[dict[str, float]]
    report_index: np.ndarray  # which validation rows report (the others fitted the temperature)

    def summary(self) -> dict[str, float | int]:
        """The figures the manifest keeps (the reliability bins go to metrics.json)."""
        return {"temperature": round(self.temperature, 4), "fit_rows": self.fit_rows,
                "report_rows": self.report_rows, "bins": self.bins, "ece_before": round(self.ece_before, 4),
                "ece_after": round(self.ece_after, 4), "nll_before": round(self.nll_before, 4),
                "nll_after": round(self.nll_after, 4)}


def remeasured(calibration: Calibration, served_probabilities: np.ndarray, labels: np.ndarray) -> Calibration:
    """The "after" figures measured again on what the bundle serves (e.g. after int8 quantization):
    ``served_probabilities`` and ``labels`` of every validation row."""
    probs, truth = served_probabilities[calibration.report_index], labels[calibration.report_index]
    return replace(calibration, ece_after=expected_calibration_error(probs, truth, calibration.bins),
                   nll_after=negative_log_likelihood(probs, truth),
                   reliability_after=reliability(probs, truth, calibration.bins))


def halves(labels: np.ndarray, fit_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fitting rows and of the reporting rows: each label split in the same proportion."""
    rng = np.random.default_rng(seed)
    fit, report = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        cut = int(round(len(rows) * fit_fraction))
        fit.append(rows[:cut])
        report.append(rows[cut:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(report))


@torch.no_grad()
def views_logits(nets: list[nn.Module], pixels: np.ndarray, flip_tta: bool, zoom_tta: float = 1.0,
                 batch_size: int = 256) -> np.ndarray:
    """Logits (views, n, 7) in float32: each network on each view of :func:`pipeline.model.tta_views`."""
    chunks = []
    for start in range(0, len(pixels), batch_size):
        x = to_tensor(pixels[start:start + batch_size])
        views = tta_views(x, flip_tta, zoom_tta)
        per_net = []
        for net in nets:
            net.eval()
            per_net.append(net(views).float().numpy().reshape(-1, len(x), NUM_CLASSES))
        chunks.append(np.concatenate(per_net))
    if not chunks:
        count = len(nets) * len(tta_views(torch.zeros(1, 1, IMAGE_SIDE, IMAGE_SIDE), flip_tta, zoom_tta))
        return np.zeros((count, 0, NUM_CLASSES), dtype=np.float32)
    return np.concatenate(chunks, axis=1)


def probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """What the serving graph computes: the mean over views of softmax(logits / temperature)."""
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max(axis=2, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=2, keepdims=True)).mean(axis=0)


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true label)."""
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (bounded search)."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(lambda t: negative_log_likelihood(probabilities(logits, t), labels),
                             bounds=(MIN_TEMPERATURE, MAX_TEMPERATURE), method="bounded",
                             options={"xatol": 1e-4})
    return float(result.x)


def calibrate(nets: list[nn.Module], validation: FaceSet, flip_tta: bool, zoom_tta: float, fit_fraction: float,
              bins: int, seed: int, extra_fit: FaceSet | None = None) -> Calibration:
    """Fit the temperature on ``fit_fraction`` of the validation rows (and every ``extra_fit``
    face: real photos kept for tuning, so the probabilities mean what they say there too);
    report on the rest of the validation rows."""
    fit_rows, report_rows = halves(validation.labels, fit_fraction, seed)
    logits = views_logits(nets, validation.pixels, flip_tta, zoom_tta)
    fit_logits, fit_labels = logits[:, fit_rows], validation.labels[fit_rows]
    if extra_fit is not None and len(extra_fit):
        fit_logits = np.concatenate([fit_logits, views_logits(nets, extra_fit.pixels, flip_tta, zoom_tta)], axis=1)
        fit_labels = np.concatenate([fit_labels, extra_fit.labels])
    temperature = fit_temperature(fit_logits, fit_labels)
    report_logits, report_labels = logits[:, report_rows], validation.labels[report_rows]
    before, after = probabilities(report_logits, 1.0), probabilities(report_logits, temperature)
    return Calibration(
        temperature=temperature, fit_rows=len(fit_labels), report_rows=len(report_rows), bins=bins,
        ece_before=expected_calibration_error(before, report_labels, bins),
        ece_after=expected_calibration_error(after, report_labels, bins),
        nll_before=negative_log_likelihood(before, report_labels),
        nll_after=negative_log_likelihood(after, report_labels),
        reliability_before=reliability(before, report_labels, bins),
        reliability_after=reliability(after, report_labels, bins), report_index=report_rows)
