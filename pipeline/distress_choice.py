"""Choose the distress rule a bundle carries (:mod:`facemood.distress`): how the
distress expressions' probabilities make one score, and the threshold on it.

The page offers help first when the score reaches the threshold. The issue's operating point is
a precision and a recall (``distress_threshold`` in ``config/pipeline.yaml``: at least 70% of
flags on a distressed face while flagging at least 55% of them). Every pair of a combination
(``combines``: the probabilities summed, or the likeliest alone) and a threshold is a candidate.
They are judged on photos whose probabilities no fitted part has seen: the tune persons, each
read by the photo calibration fitted without them. Those are few (a few dozen distressed
photos), so the figure of one candidate on them is noisy, and the one with the best figure there
is often a lucky one. So each candidate is judged by how often it meets *both* targets when the
persons are resampled with replacement (a person bootstrap: a person's photos stay together, as
they arrive together), averaged over several held-out readings (the cross-validation repeated
with other fold seeds: which persons share a fold moves the reading): the candidate that meets
them most often is chosen (on a tie the higher threshold, fewer false alarms; then the
combination listed first). When no candidate ever meets them, none is chosen and the app's
fallback applies; the manifest then says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from facemood.distress import DistressRule, distress_scores
from facemood.emotions import EMOTIONS
from pipeline.scores import person_resamples
from pipeline.settings import DistressRuleSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistressRuleChoice:
    """The candidates' figures on the photos, and the chosen one (None: no candidate met both targets)."""

    rule: DistressRule | None
    combines: tuple[str, ...]  # per candidate
    candidates: tuple[float, ...]  # per candidate, its threshold
    precision: tuple[float, ...]  # per candidate, on all the photos (the mean over the readings)
    recall: tuple[float, ...]
    chance: tuple[float, ...]  # per candidate, the share of person resamples meeting both targets
    photos: int
    distress_photos: int
    persons: int
    readings: int  # held-out readings averaged

    @property
    def threshold(self) -> float | None:
        """The chosen threshold (None: none chosen)."""
        return None if self.rule is None else self.rule.threshold

    def manifest_entry(self, settings: DistressRuleSettings) -> dict[str, Any]:
        """The manifest's ``distress_threshold`` (with no ``threshold`` when none was chosen)."""
        figures = {"chosen_on": "tune persons, each read by the photo calibration fitted without them",
                   "target_precision": settings.target_precision, "target_recall": settings.target_recall,
                   "photos": self.photos, "distress_photos": self.distress_photos, "persons": self.persons,
                   "bootstrap_draws": settings.bootstrap_draws, "readings": self.readings,
                   "candidates": [{"combine": m, "threshold": t, "precision": round(p, 4), "recall": round(r, 4),
                                   "chance": round(c, 4)} for m, t, p, r, c in
                                  zip(self.combines, self.candidates, self.precision, self.recall, self.chance)]}
        if self.rule is None:
            return {"emotions": list(settings.emotions), "threshold": None, **figures}
        return {**self.rule.to_manifest(), **figures}


def flag_counts(scores: np.ndarray, distressed: np.ndarray, persons: np.ndarray,
                candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person (rows, in ``np.unique`` order) and candidate (columns): right flags, flags, and
    (one column) distressed photos."""
    _, person = np.unique(persons, return_inverse=True)
    flagged = scores[:, None] >= candidates[None, :]
    right = np.zeros((person.max() + 1, len(candidates)))
    flags = np.zeros_like(right)
    np.add.at(right, person, flagged & distressed[:, None])
    np.add.at(flags, person, flagged)
    truly = np.bincount(person, weights=distressed.astype(float), minlength=person.max() + 1)
    return right, flags, truly[:, None]


def _reading_figures(reading: np.ndarray, distressed: np.ndarray, persons: np.ndarray, thresholds: np.ndarray,
                     draws: np.ndarray, settings: DistressRuleSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one held-out reading, every (score, threshold) candidate in ``settings.combines`` order:
    the share of person resamples (``draws``) where it meets both targets, and its precision and
    recall on the photos as they are."""
    met_all, precision_all, recall_all = [], [], []
    for combine in settings.combines:
        scores = distress_scores(reading, settings.emotions, combine)
        right, flags, truly = flag_counts(scores, distressed, persons, thresholds)
        right_b, flags_b, truly_b = draws @ right, draws @ flags, draws @ truly
        met = ((right_b >= settings.target_precision * flags_b) & (flags_b > 0)
               & (right_b >= settings.target_recall * truly_b) & (truly_b > 0))
        total_right, total_flags = right.sum(axis=0), flags.sum(axis=0)
        met_all.append(met.mean(axis=0))
        precision_all.append(np.divide(total_right, total_flags, out=np.zeros_like(total_right),
                                       where=total_flags > 0))
        recall_all.append(total_right / truly.sum())
    return np.concatenate(met_all), np.concatenate(precision_all), np.concatenate(recall_all)


def choose_distress_rule(readings: list[np.ndarray], labels: np.ndarray, persons: np.ndarray,
                              settings: DistressRuleSettings) -> DistressRuleChoice | None:
    """The candidate most likely to meet both targets on new persons (module docstring), from
    one or more held-out readings ((n,7) probabilities) of the same photos, their labels and
    persons; None without a distressed photo."""
    distressed = np.isin(np.asarray(labels), [EMOTIONS.index(e) for e in settings.emotions])
    if not distressed.any():
        log.warning("no distress threshold chosen: none of the %d tune photos is labelled %s",
                    len(labels), " or ".join(settings.emotions))
        return None
    thresholds = np.asarray(settings.candidates, dtype=np.float64)
    persons = np.asarray(persons)
    # each resample: how many times each person is drawn (persons stay whole); the same for every reading
    draws = person_resamples(persons, settings.bootstrap_draws, settings.seed)
    count = draws.shape[1]
    figures = [_reading_figures(reading, distressed, persons, thresholds, draws, settings) for reading in readings]
    chance, precision, recall = ([f[i] for f in figures] for i in range(3))
    combines = tuple(c for c in settings.combines for _ in thresholds)
    return chosen(settings, combines, np.tile(thresholds, len(settings.combines)), np.mean(chance, axis=0),
                  np.mean(precision, axis=0), np.mean(recall, axis=0),
                  (len(labels), int(distressed.sum()), count, len(readings)))


def chosen(settings: DistressRuleSettings, combines: tuple[str, ...], thresholds: np.ndarray,
           chance: np.ndarray, precision: np.ndarray, recall: np.ndarray,
           sizes: tuple[int, int, int, int]) -> DistressRuleChoice:
    """The choice from the candidates' figures (``sizes``: photos, distressed photos, persons,
    readings): the most robust candidate, the higher threshold on a tie, then the combination
    listed first."""
    photos, distress_photos, persons, readings = sizes
    best = float(chance.max())
    ties = np.flatnonzero(chance == best)
    at = int(ties[np.argmax(thresholds[ties] - 1e-9 * ties)])  # the highest threshold, the earliest listed
    rule = DistressRule(settings.emotions, float(thresholds[at]), combines[at]) if best > 0.0 else None
    choice = DistressRuleChoice(rule, combines, tuple(float(t) for t in thresholds),
                                     tuple(map(float, precision)), tuple(map(float, recall)),
                                     tuple(map(float, chance)), photos, distress_photos, persons, readings)
    if rule is None:
        log.warning("no distress threshold chosen: no candidate reaches precision %.0f%% at recall %.0f%% on the "
                    "%d tune photos of %d persons; the app's fallback applies", 100 * settings.target_precision,
                    100 * settings.target_recall, photos, persons)
    else:
        log.info("distress rule %s: precision %.1f%%, recall %.1f%% on %d tune photos (%d distressed) of %d "
                 "persons; meets both targets in %.0f%% of person resamples (%d readings)", rule.describe(),
                 100 * precision[at], 100 * recall[at], photos, distress_photos, persons, 100 * best, readings)
    return choice
