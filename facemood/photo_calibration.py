"""The photo calibration: what a bundle's probabilities become when the face came from a photo.

The exported graph's probabilities are calibrated on FER2013 (its temperature is fitted on
PublicTest). A face cut from a real photo is another domain: its expressions come in other
proportions (calm faces far more often, fear and anger far less often than in FER2013) and the
networks are sure of them to another degree. The photo calibration is a second, small map fitted
on labelled photos of persons the networks never trained on (``pipeline.photo_calibration``):
the graph's log-probabilities divided by a temperature, plus a shift per expression (the log of
how much likelier that expression is on real photos, as in prior-shift adaptation), softmaxed
again. Every face the app and ``facemood predict`` read comes from a photo, so they apply it;
FER2013's own crops (the pipeline's evaluation) read the graph as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facemood.emotions import EMOTIONS
from facemood.errors import BundleIntegrityError

MANIFEST_KEY = "photo_calibration"
SMALLEST_PROBABILITY = 1e-7  # the graph's float32 probabilities may round to 0; log needs a floor
MAX_SHIFT = 20.0  # a larger shift would silence an expression outright: a broken manifest, not a calibration


def rescaled(probabilities: np.ndarray, temperature: float, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """softmax(log(probabilities) / temperature + shift) per row, in the input's float type: the
    probabilities made surer (temperature < 1) or less sure, and moved towards some expressions."""
    scores = np.log(np.clip(probabilities.astype(np.float64), SMALLEST_PROBABILITY, 1.0)) / temperature + shift
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(probabilities.dtype)


@dataclass(frozen=True)
class PhotoCalibration:
    """A temperature and one log-probability shift per expression (in ``EMOTIONS`` order)."""

    temperature: float
    shift: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 0.05 <= self.temperature <= 20.0 or not np.isfinite(self.temperature):
            raise ValueError(f"photo calibration temperature {self.temperature} is outside 0.05-20")
        if len(self.shift) != len(EMOTIONS) or not all(abs(v) <= MAX_SHIFT for v in self.shift):
            raise ValueError(f"photo calibration shift must hold {len(EMOTIONS)} numbers within +-{MAX_SHIFT}")

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """The calibrated (n,7) probabilities for the graph's (n,7) probabilities of photo faces
        (in the input's float type)."""
        return rescaled(probabilities, self.temperature, np.asarray(self.shift))

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry (figures of the fit are added by the pipeline)."""
        return {"temperature": round(self.temperature, 6),
                "shift": {name: round(value, 6) for name, value in zip(EMOTIONS, self.shift)}}


def read_photo_calibration(manifest: dict[str, Any]) -> PhotoCalibration | None:
    """The bundle's photo calibration, or None for a bundle without one (it reads photos as the graph does)."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None:
        return None
    try:
        shift = tuple(float(entry["shift"][name]) for name in EMOTIONS)
        return PhotoCalibration(float(entry["temperature"]), shift)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc
