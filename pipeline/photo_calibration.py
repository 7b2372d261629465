"""Fit the photo calibration (:mod:`facemood.photo_calibration`) on the tune persons' photos.

The map has eight numbers (a temperature and a shift per expression), fitted by maximum
likelihood on the served graph's probabilities of photos whose persons the networks never
trained on. The tune persons are few (about a hundred), so the shifts are held towards zero by an
L2 penalty whose strength is chosen by cross-validation over *persons* (every photo of a person in
one fold), by the one-standard-error rule: the strongest penalty whose held-out negative
log-likelihood is within one standard error of the best (a few dozen persons cannot tell the
best strength from its neighbours, and the stronger one moves the reading less).
The held-out probabilities of that strength are kept too, so thresholds can be chosen on
probabilities the map was not fitted on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facemood.emotions import EMOTIONS
from facemood.photo_calibration import MAX_SHIFT, PhotoCalibration
from pipeline.scores import classification_scores, expected_calibration_error

log = logging.getLogger(__name__)
LOG_TEMPERATURE_BOUNDS = (np.log(0.1), np.log(10.0))


@dataclass(frozen=True)
class PhotoCalibrationFit:
    """The fitted map, and what the person cross-validation saw."""

    calibration: PhotoCalibration
    l2: float  # the chosen penalty strength
    held_out_nll: dict[float, float]  # per strength, the held-out persons' negative log-likelihood
    held_out_probabilities: np.ndarray  # (n,7): each photo read by the map fitted without its person
    photos: int
    persons: int

    def summary(self, labels: np.ndarray, graph_probabilities: np.ndarray, bins: int) -> dict:
        """The manifest's figures: the choice, and the held-out persons read before and after."""
        figures = {}
        for when, read in (("before", graph_probabilities), ("after", self.held_out_probabilities)):
            scores = classification_scores(labels, read)
            figures |= {f"accuracy_{when}": round(scores["accuracy"], 4),
                        f"macro_f1_{when}": round(scores["macro_f1"], 4),
                        f"ece_{when}": round(expected_calibration_error(read, labels, bins), 4)}
        return {"photos": self.photos, "persons": self.persons, "l2": self.l2,
                "held_out_nll": {f"{k:g}": round(v, 4) for k, v in self.held_out_nll.items()}, "held_out": figures}


def photo_losses(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each photo's -log p(label)."""
    return -np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0))


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(label)."""
    return float(photo_losses(probabilities, labels).mean())


def fit_map(probabilities: np.ndarray, labels: np.ndarray, l2: float) -> PhotoCalibration:
    """The temperature and shifts of least penalised negative log-likelihood on these photos
    (shifts are centred: adding one number to every shift changes nothing)."""
    from scipy.optimize import minimize

    count = len(EMOTIONS)

    def loss(values: np.ndarray) -> float:
        temperature = float(np.exp(np.clip(values[count], *LOG_TEMPERATURE_BOUNDS)))
        read = PhotoCalibration(temperature, tuple(values[:count])).apply(probabilities)
        return negative_log_likelihood(read, labels) + l2 * float(np.sum(values[:count] ** 2)) / len(labels)

    # bounded: with few photos and no penalty a shift can run off towards infinity (an expression
    # no photo shows); within +-MAX_SHIFT/2 the centred shifts stay a valid calibration
    bounds = [(-MAX_SHIFT / 2, MAX_SHIFT / 2)] * count + [LOG_TEMPERATURE_BOUNDS]
    values = minimize(loss, np.zeros(count + 1), method="L-BFGS-B", bounds=bounds).x
    shift = values[:count] - values[:count].mean()
    temperature = float(np.exp(np.clip(values[count], *LOG_TEMPERATURE_BOUNDS)))
    return PhotoCalibration(temperature, tuple(float(s) for s in shift))


def person_folds(persons: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Which fold each photo is in: persons shuffled by ``seed`` and dealt round the folds."""
    names = np.random.default_rng(seed).permutation(np.unique(persons))
    fold_of = {name: rank % folds for rank, name in enumerate(names.tolist())}
    return np.array([fold_of[p] for p in persons.tolist()], dtype=np.int64)


def held_out_reading(probabilities: np.ndarray, labels: np.ndarray, fold: np.ndarray, l2: float) -> np.ndarray:
    """Each photo read by the map (penalty ``l2``) fitted on the photos of the other folds."""
    probabilities = np.asarray(probabilities, dtype=np.float64)  # the fit's finite differences need float64
    read = np.zeros_like(probabilities)
    for k in np.unique(fold):
        rows = fold == k
        read[rows] = fit_map(probabilities[~rows], labels[~rows], l2).apply(probabilities[rows])
    return read


def repeated_held_out_readings(probabilities: np.ndarray, labels: np.ndarray, persons: np.ndarray, l2: float,
                               folds: int, seeds: list[int]) -> list[np.ndarray]:
    """:func:`held_out_reading` once per fold seed: which persons share a fold moves each reading
    (132 photos), so what is chosen on them is judged over several."""
    labels = np.asarray(labels, dtype=np.int64)
    folds = min(folds, len(np.unique(persons)))
    return [held_out_reading(probabilities, labels, person_folds(persons, folds, seed), l2) for seed in seeds]


def fit_photo_calibration(probabilities: np.ndarray, labels: np.ndarray, persons: np.ndarray,
                          l2_choices: tuple[float, ...], folds: int, seed: int) -> PhotoCalibrationFit | None:
    """Choose the penalty by person cross-validation, then fit the map on every photo; None
    (photos are then read as the graph reads them) when fewer than two persons can take turns."""
    labels = np.asarray(labels, dtype=np.int64)
    folds = min(folds, len(np.unique(persons)))
    if folds < 2:
        log.warning("no photo calibration: %d tune photos of %d person(s); cross-validation needs at least two",
                    len(labels), len(np.unique(persons)))
        return None
    probabilities = np.asarray(probabilities, dtype=np.float64)  # the fit's finite differences need float64
    fold = person_folds(persons, folds, seed)
    held_out_nll, held_out = {}, {}
    for l2 in l2_choices:
        read = held_out_reading(probabilities, labels, fold, l2)
        held_out_nll[l2], held_out[l2] = negative_log_likelihood(read, labels), read
    best = min(l2_choices, key=lambda l2: held_out_nll[l2])
    losses = photo_losses(held_out[best], labels)
    within = held_out_nll[best] + float(losses.std(ddof=1) / np.sqrt(len(losses)))
    chosen = max(l2 for l2 in l2_choices if held_out_nll[l2] <= within)
    calibration = fit_map(probabilities, labels, chosen)
    log.info("photo calibration on %d photos of %d persons: L2 %g (held-out NLL %.3f; the graph's %.3f), "
             "temperature %.3f, shifts %s", len(labels), len(np.unique(persons)), chosen, held_out_nll[chosen],
             negative_log_likelihood(probabilities, labels), calibration.temperature,
             ", ".join(f"{e} {s:+.2f}" for e, s in zip(EMOTIONS, calibration.shift)))
    return PhotoCalibrationFit(calibration, chosen, held_out_nll, held_out[chosen], len(labels),
                               len(np.unique(persons)))
