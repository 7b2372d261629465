"""The photo calibration: how faces cut from photos are read. The map, its fit by person
cross-validation, the bundle and the check-in that apply it, and the ECE's sampling floor."""

from __future__ import annotations

import numpy as np
import pytest

from facemood.bundle import Bundle
from facemood.checkin import read_faces
from facemood.distress import DistressPolicy
from facemood.emotions import EMOTIONS
from facemood.errors import BundleIntegrityError
from facemood.faces import Face
from facemood.photo_calibration import PhotoCalibration, read_photo_calibration
from pipeline.photo_calibration import fit_map, fit_photo_calibration, person_folds, repeated_held_out_readings
from pipeline.scores import expected_calibration_error, sampling_ece
from tests.graphs import FixedGraph

NEUTRAL = EMOTIONS.index("neutral")
SAD = EMOTIONS.index("sad")


def softmax(scores: np.ndarray) -> np.ndarray:
    """Rows of probabilities."""
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def shifted_photos(count: int, shift: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The graph's probabilities of ``count`` photos whose true expressions follow those
    probabilities moved by ``shift`` (a domain with other proportions), their labels and persons."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, 1.5, (count, len(EMOTIONS)))
    truth = softmax(scores + shift)
    labels = np.array([rng.choice(len(EMOTIONS), p=row) for row in truth])
    persons = np.array([f"person{i // 2}" for i in range(count)])  # two photos each
    return softmax(scores).astype(np.float32), labels, persons


def test_the_identity_map_reads_as_the_graph_and_every_map_gives_probabilities():
    probabilities = softmax(np.random.default_rng(0).normal(size=(20, 7))).astype(np.float32)
    same = PhotoCalibration(1.0, (0.0,) * 7).apply(probabilities)
    assert np.allclose(same, probabilities, atol=1e-6) and same.dtype == np.float32
    moved = PhotoCalibration(1.0, (0.0, 0.0, -1.0, 0.0, 0.0, 0.5, 1.0)).apply(probabilities)
    assert np.allclose(moved.sum(axis=1), 1.0, atol=1e-5) and (moved >= 0).all()
    assert (moved[:, NEUTRAL] > probabilities[:, NEUTRAL]).all()


def test_the_fit_finds_the_proportions_of_the_photos_domain():
    shift = np.array([-0.8, 0.0, -1.0, 0.3, -0.3, 0.8, 1.0])
    probabilities, labels, persons = shifted_photos(3000, shift, seed=1)
    fit = fit_photo_calibration(probabilities, labels, persons, (0.0, 10.0, 1000.0), 5, seed=0)
    assert fit is not None and fit.l2 <= 10.0  # thousands of photos: the data, not the penalty, decides
    assert np.abs(np.array(fit.calibration.shift) - (shift - shift.mean())).max() < 0.25
    assert abs(fit.calibration.temperature - 1.0) < 0.1
    assert fit.held_out_nll[fit.l2] < fit.held_out_nll[1000.0]
    summary = fit.summary(labels, probabilities, 15)["held_out"]
    assert summary["accuracy_after"] > summary["accuracy_before"]


def test_photos_like_the_graph_leave_the_reading_alone():
    probabilities, labels, persons = shifted_photos(600, np.zeros(7), seed=2)
    fit = fit_photo_calibration(probabilities, labels, persons, (0.0, 1.0, 3.0, 10.0, 30.0, 100.0), 5, seed=0)
    assert fit is not None and np.abs(fit.calibration.shift).max() < 0.2
    assert fit.l2 >= 3.0  # one standard error: nothing to gain, so the stronger penalty


def test_repeated_readings_redraw_the_folds_and_the_first_is_the_fits_own():
    probabilities, labels, persons = shifted_photos(300, np.array([0.0, 0, 0, 0, -1.0, 0, 1.5]), seed=3)
    fit = fit_photo_calibration(probabilities, labels, persons, (3.0,), 5, seed=7)
    same, other = repeated_held_out_readings(probabilities, labels, persons, 3.0, 5, [7, 8])
    assert np.allclose(same, fit.held_out_probabilities)  # the cross-validation's own reading, again
    assert not np.allclose(other, same) and np.allclose(other.sum(axis=1), 1.0)  # other folds, other reading
    graph_nll = -np.log(probabilities[np.arange(300), labels]).mean()
    assert -np.log(other[np.arange(300), labels]).mean() < graph_nll  # still a held-out improvement


def test_a_person_is_never_in_two_folds_and_one_person_fits_nothing():
    persons = np.array([f"p{i % 13}" for i in range(100)])
    folds = person_folds(persons, 5, seed=4)
    for person in np.unique(persons):
        assert len(set(folds[persons == person].tolist())) == 1
    assert set(folds.tolist()) == set(range(5))
    probabilities, labels, _ = shifted_photos(10, np.zeros(7), seed=3)
    assert fit_photo_calibration(probabilities, labels, np.array(["solo"] * 10), (0.0,), 5, 0) is None


def test_the_manifest_entry_round_trips_and_a_broken_one_is_named():
    calibration = PhotoCalibration(0.82, (-0.77, -0.19, -0.93, 0.23, -0.27, 0.98, 0.95))
    again = read_photo_calibration({"photo_calibration": calibration.to_manifest()})
    assert again is not None and np.allclose(again.shift, calibration.shift) and again.temperature == 0.82
    assert read_photo_calibration({}) is None
    broken = {"photo_calibration": {"temperature": 0.8, "shift": {"angry": 0.1}}}
    with pytest.raises(BundleIntegrityError, match="photo_calibration"):
        read_photo_calibration(broken)
    with pytest.raises(ValueError, match="temperature"):
        PhotoCalibration(0.0, (0.0,) * 7)
    for shift in (float("nan"), 1e300):
        entry = {"photo_calibration": {"temperature": 1.0, "shift": {name: shift for name in EMOTIONS}}}
        with pytest.raises(BundleIntegrityError, match="within"):
            read_photo_calibration(entry)


def test_a_check_in_reads_a_photo_face_through_the_bundles_photo_calibration():
    # the graph leans sad (FER2013's proportions); real photos hold calm faces far more often
    graph = FixedGraph([0.05, 0.0, 0.05, 0.05, 0.45, 0.05, 0.35])
    calibration = PhotoCalibration(1.0, (-0.5, 0.0, -0.5, 0.0, -0.3, 0.3, 1.0))
    face = Face(box=(0, 0, 48, 48), score=0.99, crop=np.zeros((48, 48), np.uint8))
    distress = DistressPolicy(emotions=("sad", "fear", "angry"), combine="sum", threshold=0.5, fallback_threshold=0.5)
    as_graph = read_faces([face], Bundle("m", None, graph), distress)[0]
    assert as_graph.top == "sad" and as_graph.flagged
    calibrated = Bundle("m", None, graph,
                        photo_calibration=calibration)
    reading = read_faces([face], calibrated, distress)[0]
    assert reading.top == "neutral" and not reading.flagged
    assert calibrated.predict_proba(np.zeros((1, 48, 48), np.uint8))[0, SAD] == pytest.approx(0.45)


def test_the_ece_of_a_perfectly_calibrated_model_is_far_from_zero_on_a_few_hundred_photos():
    rng = np.random.default_rng(5)
    probabilities = softmax(rng.normal(0.0, 2.0, (273, 7)))
    median, high = sampling_ece(probabilities, 15, draws=400)
    assert 0.04 < median < high < 0.15  # a few hundred photos cannot resolve 2.5%
    labels = np.array([rng.choice(7, p=row) for row in probabilities])  # calibrated by construction
    assert expected_calibration_error(probabilities, labels, 15) < high * 1.5
    many = softmax(rng.normal(0.0, 2.0, (20000, 7)))
    assert sampling_ece(many, 15, draws=50)[0] < 0.01


def test_an_unpenalised_fit_on_a_few_photos_stays_a_valid_calibration():
    """Three photos whose labels the graph finds unlikely: with no penalty the likelihood keeps
    rising as their shifts grow without end; the fit stops at a valid calibration instead of
    failing the whole run (it raised "shift must hold 7 numbers within +-20")."""
    probabilities = np.array([[0.066081, 0.125078, 0.000043, 0.093698, 0.000034, 0.109026, 0.606041],
                              [0.003998, 0.0, 0.002155, 0.104917, 0.00142, 0.000057, 0.887454],
                              [0.328225, 0.173485, 0.001788, 0.016668, 0.21457, 0.265263, 0.000001]])
    labels = np.array([EMOTIONS.index(e) for e in ("angry", "fear", "sad")])
    calibration = fit_map(probabilities, labels, l2=0.0)
    read = calibration.apply(probabilities)
    assert (read[np.arange(3), labels] > probabilities[np.arange(3), labels]).all()
