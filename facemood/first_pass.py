"""The first pass: one network reading the face alone, before the whole graph.

The served graph averages several networks over several views of each face (eight passes),
which costs more than the per-face budget on one CPU core. Most faces do not need them all: when
one network alone is sure of a face, the ensemble almost always agrees with it. A bundle may
therefore carry ``first-pass.onnx`` (one network, one view, its own temperature) and an exit
probability: a face whose first-pass top probability reaches it is answered by the first pass
(its probabilities tempered once more by an answer temperature fitted on the faces it answers:
a network is surer of the faces it is surest of than it is right on them); every other face is
read by the whole graph. The network that reads first is also one of the graph's, and the face as
it is one of its views: so a bundle may carry the graph less that pass (``first-pass-rest.onnx``),
and a face the first pass refuses is read by it, with the first pass's own reading (at the graph's
temperature) as the missing pass, instead of running that network on the face twice. The training
pipeline builds it and chooses the exit
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
REST_FILE_NAME = "first-pass-rest.onnx"


@dataclass(frozen=True)
class FirstPass:
    """The first-pass graph's session, the top probability at which its answer stands, and the
    temperature its answers are read at (1: as the graph gives them)."""

    session: Any  # onnxruntime.InferenceSession
    exit_probability: float
    answer_temperature: float = 1.0
    rest: GraphRest | None = None  # None: the whole graph reads the faces the first pass refuses

    def __post_init__(self) -> None:
        if not 0.0 < self.exit_probability <= 1.0:
            raise ValueError(f"the first pass's exit probability must be in (0, 1], got {self.exit_probability}")
        check_temperature("answer temperature", self.answer_temperature)


@dataclass(frozen=True)
class GraphRest:
    """The graph less the pass the first pass makes: its session, how many passes it averages,
    and the temperature ratio (graph / first pass) that reads the first pass's probabilities as
    that missing pass."""

    session: Any  # onnxruntime.InferenceSession
    passes: int
    retemper: float

    def __post_init__(self) -> None:
        if not 1 <= self.passes <= 64:
            raise ValueError(f"the graph's rest must average 1 to 64 passes, got {self.passes}")
        check_temperature("temperature ratio", self.retemper)


@dataclass(frozen=True)
class FirstPassEntry:
    """What the manifest says of a first pass: its exit probability and answer temperature, and
    of the graph's rest (when it carries one) how many passes it averages and the ratio."""

    exit_probability: float
    answer_temperature: float = 1.0
    rest_passes: int | None = None  # None: no rest; the whole graph reads what the first pass refuses
    retemper: float = 1.0


def check_temperature(what: str, value: float) -> None:
    """A ValueError unless ``value`` is a finite temperature in [0.05, 20]."""
    if not (math.isfinite(value) and 0.05 <= value <= 20.0):
        raise ValueError(f"the first pass's {what} must be in [0.05, 20], got {value}")


def read_first_pass(manifest: dict[str, Any]) -> FirstPassEntry | None:
    """The bundle's first pass as its manifest describes it (answer temperature 1 and no rest when
    the entry has none, as bundles before them), or None for a bundle without one; raises
    BundleIntegrityError for an entry that is not a first pass this code can run."""
    entry = manifest.get(MANIFEST_KEY)
    if entry is None:
        return None
    try:
        if entry["file"] != FILE_NAME:
            raise ValueError(f"its file must be {FILE_NAME}, not {entry['file']!r}")
        read = FirstPassEntry(float(entry["exit_probability"]), float(entry.get("answer_temperature", 1.0)))
        FirstPass(None, read.exit_probability, read.answer_temperature)  # the ranges, checked once
        if "rest_file" in entry:
            if entry["rest_file"] != REST_FILE_NAME:
                raise ValueError(f"its rest_file must be {REST_FILE_NAME}, not {entry['rest_file']!r}")
            retemper = float(entry["graph_temperature"]) / float(entry["temperature"])
            rest = GraphRest(None, int(entry["rest_passes"]), retemper)  # the ranges, checked once
            read = FirstPassEntry(read.exit_probability, read.answer_temperature, rest.passes, rest.retemper)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise BundleIntegrityError(f"the manifest's {MANIFEST_KEY} is not valid: {exc}") from exc
    return read


def run_graph(session: Any, faces: np.ndarray) -> np.ndarray:
    """A graph's probabilities (n,7) for float (n,1,48,48) faces."""
    return np.asarray(session.run(None, {session.get_inputs()[0].name: faces})[0])


def cascade_probabilities(first_pass: FirstPass, whole: Any, faces: np.ndarray) -> np.ndarray:
    """Probabilities (n,7) for float (n,1,48,48) faces: the first pass's (at its answer temperature)
    where it is sure; for the rest, which alone pay for it, the whole graph's (session ``whole``),
    or with a graph rest its mean with the first pass's reading as the pass it leaves out."""
    first = run_graph(first_pass.session, faces)
    unsure = first.max(axis=1) < first_pass.exit_probability
    answers = rescaled(first, first_pass.answer_temperature) if first_pass.answer_temperature != 1.0 else first.copy()
    if unsure.any():
        refused = np.ascontiguousarray(faces[unsure])
        rest = first_pass.rest
        if rest is None:
            answers[unsure] = run_graph(whole, refused)
        else:  # the first pass's probabilities at the graph's temperature are the pass the rest leaves out
            own = rescaled(first[unsure], rest.retemper)
            answers[unsure] = (own + rest.passes * run_graph(rest.session, refused)) / (rest.passes + 1)
    return answers
