"""The distress rule a bundle carries: when the page offers help first, for this model.

The distress flag compares a score of the distress expressions (``distress`` in
``config/app.yaml``) with a threshold. The score combines their probabilities one of two ways:

- ``sum``: the expressions together (a face read as "maybe angry, maybe fearful" counts both);
- ``max``: the likeliest of them alone (the same threshold for each expression).

Which combination separates distressed faces from the rest, and at what threshold, depends on
the model's probabilities: on real photos a surprised face is often read as angry and fearful at
once, which the sum counts as distress and the likeliest one alone does not. So the training
pipeline chooses both for each bundle it publishes, on real photos of persons neither the
networks nor the photo calibration were fitted on (``pipeline.distress_threshold``), and records
them in the manifest with the figures they were chosen on. The app uses them unless its
configuration sets a threshold of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from facemood.emotions import EMOTIONS
from facemood.errors import BundleIntegrityError

MANIFEST_KEY = "distress_threshold"
COMBINES = ("sum", "max")  # how the distress expressions' probabilities make one score
LEGACY_COMBINE = "sum"  # bundles chosen before the combination was recorded were chosen for the sum


def check_combine(combine: str) -> None:
    """A ValueError naming the choices unless ``combine`` is one of :data:`COMBINES`."""
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")


def distress_scores(probabilities: np.ndarray, emotions: tuple[str, ...], combine: str) -> np.ndarray:
    """Each row's distress score: the probabilities of ``emotions`` summed, or the largest of them."""
    check_combine(combine)
    columns = np.asarray(probabilities, dtype=np.float64)[:, [EMOTIONS.index(e) for e in emotions]]
    return columns.sum(axis=1) if combine == "sum" else columns.max(axis=1)


@dataclass(frozen=True)
class DistressThreshold:
    """This model's distress rule: the score of ``emotions`` (combined by ``combine``) at which
    its reading offers help."""

    emotions: tuple[str, ...]
    threshold: float
    combine: str = LEGACY_COMBINE

    def __post_init__(self) -> None:
        if not self.emotions or any(e not in EMOTIONS for e in self.emotions):
            raise ValueError(f"distress threshold emotions must be some of {', '.join(EMOTIONS)}, got {self.emotions}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"distress threshold must be in [0, 1], got {self.threshold}")
        check_combine(self.combine)

    def applies_to(self, emotions: tuple[str, ...]) -> bool:
        """True when it was chosen for the same distress emotions (in any order)."""
        return set(self.emotions) == set(emotions)

    def score(self, probabilities: Mapping[str, float]) -> float:
        """One face's distress score (probabilities by emotion name)."""
        values = [probabilities[e] for e in self.emotions]
        return float(sum(values) if self.combine == "sum" else max(values))

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """Each row's distress score ((n,7) probabilities in :data:`EMOTIONS` order)."""
        return distress_scores(probabilities, self.emotions, self.combine)

    def flags(self, probabilities: Mapping[str, float]) -> bool:
        """True when this face's reading offers help first."""
        return self.score(probabilities) >= self.threshold

    def describe(self) -> str:
        """The rule in words, for logs and benches: ``sad+fear+angry together >= 0.7``."""
        how = "together" if self.combine == "sum" else "the likeliest alone"
        return f"{'+'.join(self.emotions)} {how} >= {self.threshold:g}"

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry (the figures it was chosen on are added by the pipeline)."""
        return {"emotions": list(self.emotions), "combine": self.combine, "threshold": round(self.threshold, 6)}


def read_distress_threshold(manifest: dict[str, Any]) -> DistressThreshold | None:
    """The bundle's distress rule, or None for a bundle without one (the app's own applies;
    the pipeline records ``threshold: null`` when no candidate met its targets)."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None or (isinstance(entry, dict) and "threshold" in entry and entry["threshold"] is None):
        return None
    try:
        return DistressThreshold(tuple(str(e) for e in entry["emotions"]), float(entry["threshold"]),
                                 str(entry.get("combine", LEGACY_COMBINE)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc
