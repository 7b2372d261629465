"""The first pass: one network reading the face alone, before the whole graph.

The served graph averages several networks over several views of each face (eight passes),
which costs more than the per-face budget on one CPU core. Most faces do not need them all: when
one network alone is sure of a face, the ensemble almost always agrees with it. A bundle may
therefore carry ``first-pass.onnx`` (one network, one view, its own temperature) and an exit
probability: a face whose first-pass top probability reaches it is answered by the first pass;
every other face is read by the whole graph. The training pipeline builds it and chooses the exit
probability so that the cascade reads its validation faces as accurately as the whole graph
(``pipeline.first_pass``); everything downstream (the photo calibration, the distress threshold,
the evaluation and the champion rule) reads faces through the cascade, as the app does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facemood.errors import BundleIntegrityError

MANIFEST_KEY = "first_pass"
FILE_NAME = "first-pass.onnx"


@dataclass(frozen=True)
class FirstPass:
    """The first-pass graph's session and the top probability at which its answer stands."""

    session: Any  # onnxruntime.InferenceSession
    exit_probability: float

    def __post_init__(self) -> None:
        if not 0.0 < self.exit_probability <= 1.0:
            raise ValueError(f"the first pass's exit probability must be in (0, 1], got {self.exit_probability}")


def read_exit_probability(manifest: dict[str, Any]) -> float | None:
    """The exit probability of the bundle's first pass, or None for a bundle without one; raises
    BundleIntegrityError for an entry that is not a first pass this code can run."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None:
        return None
    try:
        if entry["file"] != FILE_NAME:
            raise ValueError(f"its file must be {FILE_NAME}, not {entry['file']!r}")
        exit_probability = float(entry["exit_probability"])
        if not 0.0 < exit_probability <= 1.0:
            raise ValueError(f"exit_probability must be in (0, 1], got {exit_probability}")
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc
    return exit_probability


def run_graph(session: Any, faces: np.ndarray) -> np.ndarray:
    """A graph's probabilities (n,7) for float (n,1,48,48) faces."""
    return np.asarray(session.run(None, {session.get_inputs()[0].name: faces})[0])


def cascade_probabilities(first_pass: FirstPass, whole: Any, faces: np.ndarray) -> np.ndarray:
    """Probabilities (n,7) for float (n,1,48,48) faces: the first pass's where it is sure, the whole
    graph's (session ``whole``) for the rest, which alone pay for it."""
    first = run_graph(first_pass.session, faces)
    unsure = first.max(axis=1) < first_pass.exit_probability
    if unsure.any():
        first[unsure] = run_graph(whole, np.ascontiguousarray(faces[unsure]))
    return first
