"""The first pass: one network reading the face alone, before the whole graph.

The served graph averages several networks over several views of each face (eight passes),
which costs more than the per-face budget on one CPU core. Most faces do not need them all: when
one network alone is sure of a face, the ensemble almost always agrees with it. A bundle may
therefore carry ``first-pass.onnx`` (one network, one view, its own temperature) and an exit
probability: a face whose first-pass top probability reaches it is answered by the first pass
(its probabilities tempered once more by an answer temperature fitted on the faces it answers:
a network is surer of the faces it is surest of than it is right on them); every other face is
read by the whole graph. The training pipeline builds it and chooses the exit
probability so that the cascade reads its validation faces as accurately as the whole graph
(``pipeline.first_pass``); everything downstream (the photo calibration, the distress threshold,
the evaluation and the champion rule) reads faces through the cascade, as the app does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from facemood.errors import BundleIntegrityError
from facemood.photo_calibration import rescaled

MANIFEST_KEY = "first_pass"
FILE_NAME = "first-pass.onnx"


@dataclass(frozen=True)
class FirstPass:
    """The first-pass graph's session, the top probability at which its answer stands, and the
    temperature its answers are read at (1: as the graph gives them)."""

    session: Any  # onnxruntime.InferenceSession
    exit_probability: float
    answer_temperature: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.exit_probability <= 1.0:
            raise ValueError(f"the first pass's exit probability must be in (0, 1], got {self.exit_probability}")
        if not (math.isfinite(self.answer_temperature) and 0.05 <= self.answer_temperature <= 20.0):
            raise ValueError("the first pass's answer temperature must be in [0.05, 20], "
                             f"got {self.answer_temperature}")


def read_first_pass(manifest: dict[str, Any]) -> tuple[float, float] | None:
    """The exit probability and answer temperature of the bundle's first pass (1 when the entry
    has none, as bundles before it), or None for a bundle without one; raises
    BundleIntegrityError for an entry that is not a first pass this code can run."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None:
        return None
    try:
        if entry["file"] != FILE_NAME:
            raise ValueError(f"its file must be {FILE_NAME}, not {entry['file']!r}")
        exit_probability = float(entry["exit_probability"])
        answer_temperature = float(entry.get("answer_temperature", 1.0))
        FirstPass(None, exit_probability, answer_temperature)  # the ranges, checked once
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc
    return exit_probability, answer_temperature


def run_graph(session: Any, faces: np.ndarray) -> np.ndarray:
    """A graph's probabilities (n,7) for float (n,1,48,48) faces."""
    return np.asarray(session.run(None, {session.get_inputs()[0].name: faces})[0])


def cascade_probabilities(first_pass: FirstPass, whole: Any, faces: np.ndarray) -> np.ndarray:
    """Probabilities (n,7) for float (n,1,48,48) faces: the first pass's (at its answer temperature)
    where it is sure, the whole graph's (session ``whole``) for the rest, which alone pay for it."""
    first = run_graph(first_pass.session, faces)
    unsure = first.max(axis=1) < first_pass.exit_probability
    if first_pass.answer_temperature != 1.0:
        first = rescaled(first, first_pass.answer_temperature)
    if unsure.any():
        first[unsure] = run_graph(whole, np.ascontiguousarray(faces[unsure]))
    return first
