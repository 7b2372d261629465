"""Build the bundle's first pass (:mod:`facemood.first_pass`) and choose its exit probability.

Each network of the graph is exported reading the face alone, with its own temperature (fitted as
the graph's is: on the validation rows that fit it, and the tune photos), as it would be served
(int8 when the graph is). For each, the exit probability is the lowest candidate at which the
cascade reads those rows, and the tune photos when there are some, at most ``max_accuracy_loss``
less well than the whole graph, in accuracy and in macro-F1 (the champion rule compares both),
with an expected calibration error on those rows at most ``max_ece_increase`` above the graph's.
The network that lets the most of those rows exit reads first; none holds: no first pass. Its
answers are then read at a temperature fitted on the validation fit rows it answers (their
argmax unchanged). Beside it goes the graph less that network's pass on the face as it is
(``first-pass-rest.onnx``): the faces the first pass refuses are read by it with the first pass's
reading as the missing pass, which is the whole graph's reading without running that network on
the face twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from facemood import bundle
from facemood.faceset import FaceSet
from facemood.first_pass import FILE_NAME, REST_FILE_NAME
from facemood.photo_calibration import SMALLEST_PROBABILITY
from pipeline.calibration import calibrate, fit_temperature, halves
from pipeline.export import export_onnx, export_onnx_module
from pipeline.model import ServingRest
from pipeline.quantize import quantize_int8
from pipeline.scores import expected_calibration_error, weighted_macro_f1
from pipeline.settings import PipelineSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judged:
    """The faces a first pass is judged on: the validation fit rows, and the tune photos (maybe none)."""

    faces: list[np.ndarray]
    labels: list[np.ndarray]
    graph: list[np.ndarray]  # the whole graph's probabilities for each


def _accuracy(read: np.ndarray, labels: np.ndarray) -> float:
    return round(float((read.argmax(axis=1) == labels).mean()), 4)


def _figures(read: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 (what the champion rule compares)."""
    predicted = read.argmax(axis=1)
    return float((predicted == labels).mean()), weighted_macro_f1(labels, predicted, np.ones(len(labels)))


def exit_choice(first: list[np.ndarray], judged: Judged, candidates: tuple[float, ...], max_loss: float,
                max_ece_increase: float = 1.0) -> tuple[float, float] | None:
    """The lowest candidate at which the cascade of ``first`` (probabilities per judged set) reads
    every judged set at most ``max_loss`` less well than the whole graph, in accuracy and in
    macro-F1 (a first pass that is sure of the common expressions must not cost the rare ones), and
    the first set with an expected calibration error at most ``max_ece_increase`` above the graph's
    (the first pass answers the faces it is surest of: its probabilities must mean what the graph's
    do), with the share of the first set's faces that exit there; None when no candidate holds
    with a face exiting."""
    graph_figures = [_figures(graph, labels) for graph, labels in zip(judged.graph, judged.labels)]
    graph_ece = expected_calibration_error(judged.graph[0], judged.labels[0])
    for candidate in sorted(candidates):
        if not (first[0].max(axis=1) >= candidate).any():
            break  # higher candidates let no face exit either
        cascades = [np.where((probs.max(axis=1) >= candidate)[:, None], probs, graph)
                    for probs, graph in zip(first, judged.graph)]
        holds = all(got >= wanted - max_loss - 1e-12
                    for cascade, labels, figures in zip(cascades, judged.labels, graph_figures)
                    for got, wanted in zip(_figures(cascade, labels), figures))
        if holds and expected_calibration_error(cascades[0], judged.labels[0]) <= graph_ece + max_ece_increase:
            return float(candidate), float((first[0].max(axis=1) >= candidate).mean())
    return None


def fit_answer_temperature(first: np.ndarray, labels: np.ndarray, exit_probability: float) -> float:
    """The temperature that makes the first pass's answers mean what they say: fitted (maximum
    likelihood) on the faces it answers among ``first``'s rows, which are those it is surest of
    and so, for a network calibrated on every face, read a little surer than they are right; 1
    when it answers none."""
    answered = first.max(axis=1) >= exit_probability
    if not answered.any():
        return 1.0
    log_probs = np.log(np.clip(first[answered].astype(np.float64), SMALLEST_PROBABILITY, 1.0))
    return fit_temperature(log_probs[None], labels[answered])


def _candidate_path(model_path: Path, index: int) -> Path:
    """Where network ``index``'s first-pass graph is written while it is judged: outside the bundle."""
    return model_path.parent.parent / f"{Path(FILE_NAME).stem}-{index}.onnx"


def _served_graph(settings: PipelineSettings, net: nn.Module, temperature: float, path: Path,
                  quantization_faces: np.ndarray) -> bundle.Bundle:
    """``net`` reading the face alone, exported as it would be served (int8 when the graph is)."""
    float_path = path.with_suffix(".float.onnx")
    export_onnx([net], float_path, False, temperature)
    if settings.model.int8:
        quantize_int8(float_path, path, quantization_faces)
        float_path.unlink()
    else:
        float_path.replace(path)
    return bundle.load_onnx_file(path, settings.training.threads)


def _served_rest(settings: PipelineSettings, nets: list[nn.Module], read: int, graph_temperature: float, path: Path,
                 quantization_faces: np.ndarray) -> int:
    """Write the graph less network ``read``'s pass on the face as it is to ``path``, as it would be
    served (int8 when the graph is); its number of passes (0, and nothing written, when the first
    pass is the whole graph)."""
    rest = ServingRest(nets, read, settings.model.flip_tta, graph_temperature, settings.model.zoom_tta).eval()
    if rest.rest_passes() == 0:
        return 0
    float_path = path.with_suffix(".float.onnx")
    export_onnx_module(rest, float_path)
    if settings.model.int8:
        quantize_int8(float_path, path, quantization_faces)
        float_path.unlink()
    else:
        float_path.replace(path)
    return rest.rest_passes()


@dataclass(frozen=True)
class FirstPassChoice:
    """The network that reads first: its index, the share of faces it answers, the exit
    probability and its own temperature."""

    network: int
    exits: float
    exit_probability: float
    temperature: float


def _judged(settings: PipelineSettings, validation: FaceSet, graph: bundle.Bundle,
            tune_photos: FaceSet | None) -> Judged:
    """What a first pass is judged on: the validation rows that fit the temperature, and the tune
    photos when there are any, with the whole graph's reading of each."""
    fit_rows, _ = halves(validation.labels, settings.calibration.fit_fraction, settings.training.seed)
    judged = Judged([validation.pixels[fit_rows]], [validation.labels[fit_rows]],
                    [graph.predict_proba(validation.pixels[fit_rows])])
    if tune_photos is not None and len(tune_photos):
        judged.faces.append(tune_photos.pixels)
        judged.labels.append(tune_photos.labels)
        judged.graph.append(graph.predict_proba(tune_photos.pixels))
    return judged


def _choose_network(settings: PipelineSettings, nets: list[nn.Module], validation: FaceSet, judged: Judged,
                    model_path: Path, quantization_faces: np.ndarray,
                    tune_photos: FaceSet | None) -> FirstPassChoice | None:
    """Each network served alone (written as a candidate beside ``model_path``) and judged; the
    one that lets the most faces exit (the earlier on a tie), or None when none holds."""
    stage, calibration = settings.first_pass, settings.calibration
    scored: list[tuple[float, int, float, float]] = []  # (exits, -network, exit probability, temperature)
    for index, net in enumerate(nets):
        temperature = calibrate([net], validation, False, 1.0, calibration.fit_fraction, calibration.bins,
                                settings.training.seed, tune_photos).temperature
        served_first = _served_graph(settings, net, temperature, _candidate_path(model_path, index), quantization_faces)
        choice = exit_choice([served_first.predict_proba(faces) for faces in judged.faces], judged,
                             stage.exit_candidates, stage.max_accuracy_loss, stage.max_ece_increase)
        log.info("first pass candidate: network %d, temperature %.3f: %s", index, temperature,
                 "no exit probability holds" if choice is None
                 else f"exit at {choice[0]:.2f} lets {100 * choice[1]:.1f}% of the validation fit rows exit")
        if choice is not None:
            scored.append((choice[1], -index, choice[0], temperature))
    if not scored:
        return None
    exits, negative_index, exit_probability, temperature = max(scored)
    return FirstPassChoice(-negative_index, exits, exit_probability, temperature)


def _entry(settings: PipelineSettings, chosen: FirstPassChoice, judged: Judged, readings: dict[str, list[np.ndarray]],
           temperatures: dict[str, float], passes: int) -> dict[str, Any]:
    """The manifest's ``first_pass`` entry. ``readings``: the first network's and the cascade's
    reading of each judged set; ``temperatures``: the rounded temperatures it serves with."""
    stage, first, cascade = settings.first_pass, readings["first"], readings["cascade"]
    entry = {"file": FILE_NAME, "exit_probability": chosen.exit_probability, "network": chosen.network,
             "temperature": temperatures["temperature"], "answer_temperature": temperatures["answer_temperature"],
             **({"rest_file": REST_FILE_NAME, "rest_passes": passes,
                 "graph_temperature": temperatures["graph_temperature"]} if passes else {}),
             "networks_in_graph": temperatures["networks_in_graph"],
             "chosen_on": "validation rows that fit the temperature" + (", tune photos" if len(first) > 1 else ""),
             "max_accuracy_loss": stage.max_accuracy_loss, "max_ece_increase": stage.max_ece_increase,
             "exits": round(chosen.exits, 4),
             "accuracy": _accuracy(cascade[0], judged.labels[0]),
             "graph_accuracy": _accuracy(judged.graph[0], judged.labels[0])}
    if len(first) > 1:
        entry |= {"tune_photos_exits": round(float((first[1].max(axis=1) >= chosen.exit_probability).mean()), 4),
                  "tune_photos_accuracy": _accuracy(cascade[1], judged.labels[1]),
                  "tune_photos_graph_accuracy": _accuracy(judged.graph[1], judged.labels[1])}
    return entry


def add_first_pass(settings: PipelineSettings, nets: list[nn.Module], validation: FaceSet, graph: bundle.Bundle,
                   model_path: Path, quantization_faces: np.ndarray, tune_photos: FaceSet | None,
                   graph_temperature: float) -> tuple[bundle.Bundle, dict[str, Any] | None]:
    """The served bundle with a first pass and the graph's rest written beside ``model_path`` (and
    its manifest entry), or ``graph`` unchanged and None when no network can read first without
    loss. ``graph_temperature``: the one ``model_path``'s graph was exported at."""
    judged = _judged(settings, validation, graph, tune_photos)
    chosen = _choose_network(settings, nets, validation, judged, model_path, quantization_faces, tune_photos)
    first_path = model_path.parent / FILE_NAME
    if chosen is not None:
        _candidate_path(model_path, chosen.network).replace(first_path)
    for other in range(len(nets)):
        _candidate_path(model_path, other).unlink(missing_ok=True)
    if chosen is None:
        log.warning("no first pass: no network reads first without losing accuracy; every face takes the graph")
        return graph, None
    served_first = bundle.load_onnx_file(first_path, settings.training.threads)
    first = [served_first.predict_proba(faces) for faces in judged.faces]
    # FER2013's rows only: the photo calibration, fitted next on the cascade's reading of the tune
    # photos, sets the photo domain's own temperature (with them too, 0.98: PublicTest's ECE rose)
    temperatures = {"temperature": round(chosen.temperature, 6), "graph_temperature": round(graph_temperature, 6),
                    "answer_temperature": round(fit_answer_temperature(first[0], judged.labels[0],
                                                                       chosen.exit_probability), 6),
                    "networks_in_graph": len(nets)}
    rest_path = model_path.parent / REST_FILE_NAME
    passes = _served_rest(settings, nets, chosen.network, temperatures["graph_temperature"], rest_path,
                          quantization_faces)
    served = bundle.load_onnx_file(model_path, settings.training.threads,
                                   (first_path, chosen.exit_probability, temperatures["answer_temperature"]),
                                   rest=(rest_path, passes, temperatures["graph_temperature"]
                                         / temperatures["temperature"]) if passes else None)
    readings = {"first": first, "cascade": [served.predict_proba(faces) for faces in judged.faces]}
    entry = _entry(settings, chosen, judged, readings, temperatures, passes)
    log.info("first pass: network %d at exit probability %.2f answers %.1f%% of the validation fit rows (accuracy "
             "%.2f%%, the graph alone %.2f%%); its answers are read at temperature %.3f", chosen.network,
             chosen.exit_probability, 100 * chosen.exits, 100 * entry["accuracy"], 100 * entry["graph_accuracy"],
             entry["answer_temperature"])
    return served, entry
