"""The distress flag: when the page offers help first. One module for the rule and the policy.

**The rule** (:class:`DistressRule`) compares a score of the distress expressions with a
threshold. The score combines their probabilities one of two ways:

- ``sum``: the expressions together (a face read as "maybe angry, maybe fearful" counts both);
- ``max``: the likeliest of them alone (the same threshold for each expression).

The score is computed once, vectorised (:func:`distress_scores`), on the probabilities *as the
page shows them*, whole percentages (:func:`shown_percents`): a face the page shows as "angry 55%" is
flagged by a rule at 0.55 even when the network said 0.545, so the figures and the flag never
disagree.

Which combination separates distressed faces from the rest, and at what threshold, depends on
the model's probabilities. So the training pipeline chooses both for each bundle it publishes
(``pipeline.distress_choice``) and the manifest carries them (key ``distress_threshold``).

**The policy** (:class:`DistressPolicy`, ``distress`` in ``config/app.yaml``) says which rule
applies to the served model: a configured threshold overrides the model's own rule, which applies
when it was chosen for the configured expressions; otherwise the fallback threshold applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facemood import config as cfg
from facemood.emotions import EMOTIONS
from facemood.errors import BundleIntegrityError

MANIFEST_KEY = "distress_threshold"  # the manifest's key (kept: every bundle so far carries it)
COMBINES = ("sum", "max")  # how the distress expressions' probabilities make one score
LEGACY_COMBINE = "sum"  # bundles chosen before the combination was recorded were chosen for the sum


def percent(probability: float) -> int:
    """A probability as the whole percentage every part of the page shows (half rounds up), so
    the headline, the words, the bars and the flag never disagree."""
    return int(shown_percents(np.asarray(probability)))


def shown_percents(probabilities: np.ndarray) -> np.ndarray:
    """Probabilities as the page shows them: whole percentages (as :func:`percent`)."""
    return np.floor(100 * np.asarray(probabilities, dtype=np.float64) + 0.5)


def check_combine(combine: str) -> None:
    """A ValueError naming the choices unless ``combine`` is one of :data:`COMBINES`."""
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")


def check_emotions(emotions: tuple[str, ...]) -> None:
    """A ValueError naming the first unknown expression (or an empty list)."""
    unknown = [e for e in emotions if e not in EMOTIONS]
    if not emotions or unknown:
        raise ValueError(f"emotions: unknown emotion {unknown[0]!r}; expected some of {', '.join(EMOTIONS)}"
                         if unknown else f"emotions: list at least one of {', '.join(EMOTIONS)}")


def distress_scores(probabilities: np.ndarray, emotions: tuple[str, ...], combine: str) -> np.ndarray:
    """Each row's distress score from (n,7) probabilities in :data:`EMOTIONS` order: the shown
    percentages of ``emotions`` summed, or the largest of them, over 100. Combined as whole
    numbers and divided once, a score reads exactly as the threshold it is compared with (35% +
    20% is 0.55, not the 0.5499999 of 0.35 + 0.2)."""
    check_combine(combine)
    columns = shown_percents(probabilities)[:, [EMOTIONS.index(e) for e in emotions]]
    return (columns.sum(axis=1) if combine == "sum" else columns.max(axis=1)) / 100


@dataclass(frozen=True)
class DistressRule:
    """The score of ``emotions`` (combined by ``combine``) at which a reading offers help."""

    emotions: tuple[str, ...]
    threshold: float
    combine: str = LEGACY_COMBINE

    def __post_init__(self) -> None:
        check_emotions(self.emotions)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"distress threshold must be in [0, 1], got {self.threshold}")
        check_combine(self.combine)

    def applies_to(self, emotions: tuple[str, ...]) -> bool:
        """True when it was chosen for the same distress emotions (in any order)."""
        return set(self.emotions) == set(emotions)

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """Each row's distress score ((n,7) probabilities in :data:`EMOTIONS` order)."""
        return distress_scores(probabilities, self.emotions, self.combine)

    def flags(self, probabilities: np.ndarray) -> np.ndarray:
        """Each row's flag: True where the reading offers help first."""
        return self.scores(probabilities) >= self.threshold

    def describe(self) -> str:
        """The rule in words, for logs and benches: ``sad+fear+angry together >= 0.7``."""
        how = "together" if self.combine == "sum" else "the likeliest alone"
        return f"{'+'.join(self.emotions)} {how} >= {self.threshold:g}"

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry (the figures it was chosen on are added by the pipeline)."""
        return {"emotions": list(self.emotions), "combine": self.combine, "threshold": round(self.threshold, 6)}


def read_distress_rule(manifest: dict[str, Any]) -> DistressRule | None:
    """The bundle's distress rule, or None for a bundle without one (the policy's fallback
    applies; the pipeline records ``threshold: null`` when no candidate met its targets)."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None or (isinstance(entry, dict) and "threshold" in entry and entry["threshold"] is None):
        return None
    try:
        return DistressRule(tuple(str(e) for e in entry["emotions"]), float(entry["threshold"]),
                            str(entry.get("combine", LEGACY_COMBINE)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc


@dataclass(frozen=True)
class DistressPolicy:
    """Which rule applies to the served model (``distress`` in ``config/app.yaml``): the
    configured ``threshold`` (with ``combine``) when set, else the model's own rule when it was
    chosen for ``emotions``, else ``fallback_threshold`` (with ``combine``)."""

    emotions: tuple[str, ...]
    combine: str
    threshold: float | None  # None: the model's own
    fallback_threshold: float

    def __post_init__(self) -> None:
        check_emotions(self.emotions)
        check_combine(self.combine)
        if self.threshold is not None:
            cfg.check_range("threshold", self.threshold, 0.0, 1.0)
        cfg.check_range("fallback_threshold", self.fallback_threshold, 0.0, 1.0)

    def rule_for(self, model: DistressRule | None) -> DistressRule:
        """The rule that applies to a model's readings."""
        if self.threshold is not None:
            return DistressRule(self.emotions, self.threshold, self.combine)
        if model is not None and model.applies_to(self.emotions):
            return DistressRule(self.emotions, model.threshold, model.combine)
        return DistressRule(self.emotions, self.fallback_threshold, self.combine)

    def source(self, model: DistressRule | None) -> str:
        """Where :meth:`rule_for` takes the rule from, in words (for benches and ``facemood predict``)."""
        if self.threshold is not None:
            return "config/app.yaml"
        if model is not None and model.applies_to(self.emotions):
            return "the model's own"
        return "config/app.yaml's fallback"
