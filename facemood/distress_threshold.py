"""The distress threshold a bundle carries: when the page offers help first, for this model.

The distress flag is "these expressions together are at least this likely" (``distress`` in
``config/app.yaml``). How likely is likely enough depends on the model's probabilities, so a
threshold chosen for one model is wrong for the next: the training pipeline chooses one for each
bundle it publishes, on real photos of persons neither the networks nor the photo calibration were
fitted on (``pipeline.distress_threshold``), and records it in the manifest with the figures it
was chosen on. The app uses it unless its configuration overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facemood.emotions import EMOTIONS
from facemood.errors import BundleIntegrityError

MANIFEST_KEY = "distress_threshold"


@dataclass(frozen=True)
class DistressThreshold:
    """The summed probability of ``emotions`` at which this model's reading offers help."""

    emotions: tuple[str, ...]
    threshold: float

    def __post_init__(self) -> None:
        if not self.emotions or any(e not in EMOTIONS for e in self.emotions):
            raise ValueError(f"distress threshold emotions must be some of {', '.join(EMOTIONS)}, got {self.emotions}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"distress threshold must be in [0, 1], got {self.threshold}")

    def applies_to(self, emotions: tuple[str, ...]) -> bool:
        """True when it was chosen for the same distress emotions (in any order)."""
        return set(self.emotions) == set(emotions)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry (the figures it was chosen on are added by the pipeline)."""
        return {"emotions": list(self.emotions), "threshold": round(self.threshold, 6)}


def read_distress_threshold(manifest: dict[str, Any]) -> DistressThreshold | None:
    """The bundle's distress threshold, or None for a bundle without one (the app's own applies;
    the pipeline records ``threshold: null`` when no candidate met its targets)."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None or (isinstance(entry, dict) and "threshold" in entry and entry["threshold"] is None):
        return None
    try:
        return DistressThreshold(tuple(str(e) for e in entry["emotions"]), float(entry["threshold"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc
