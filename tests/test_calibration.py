"""Calibration: temperature scaling inside the exported graph, and the figures that report it."""

from __future__ import annotations

import numpy as np
import torch

from facemood import bundle
from facemood.faceset import FaceSet
from pipeline import calibration, scores
from pipeline.export import export_onnx
from pipeline.model import EmotionCNN


def test_the_exported_graph_gives_the_calibrated_pytorch_probabilities(tmp_path, real_faces):
    torch.manual_seed(0)
    nets = [EmotionCNN((8, 16, 32), (1, 1, 1)).eval() for _ in range(2)]  # an ensemble of two
    path = tmp_path / "model.onnx"
    export_onnx(nets, path, flip_tta=True, temperature=2.5, zoom_tta=1.1)
    faces = real_faces["pixels"][:64]
    exported = bundle.load_onnx_file(path).predict_proba(faces)
    logits = calibration.views_logits(nets, faces, flip_tta=True, zoom_tta=1.1, batch_size=40)
    assert logits.shape == (8, 64, 7)  # two networks, each on the face, its mirror image, and both closer
    assert np.abs(exported - calibration.probabilities(logits, 2.5)).max() < 1e-5
    assert np.abs(exported - calibration.probabilities(logits, 1.0)).max() > 1e-3  # the temperature is in there


def test_the_fitted_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 4000)
    true_logits = rng.normal(0, 1.5, (4000, 7))
    true_logits[np.arange(4000), labels] += 1.5
    # sample labels from the true probabilities, then make the model 3x overconfident
    probs = calibration.probabilities(true_logits[None], 1.0)
    sampled = np.array([rng.choice(7, p=p / p.sum()) for p in probs])
    overconfident = 3.0 * true_logits[None]
    temperature = calibration.fit_temperature(overconfident, sampled)
    assert abs(temperature - 3.0) < 0.3
    before = scores.expected_calibration_error(calibration.probabilities(overconfident, 1.0), sampled)
    after = scores.expected_calibration_error(calibration.probabilities(overconfident, temperature), sampled)
    assert before > 0.1 and after < 0.03


def test_expected_calibration_error_by_hand():
    # two bins used: 0.9 confident and right half the time (gap 0.4); 0.6 confident and always right (gap 0.4)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    assert abs(scores.expected_calibration_error(probs, labels, bins=15) - 0.4) < 1e-9
    table = scores.reliability(probs, labels, 15)
    assert sum(row["count"] for row in table) == 4 and len(table) == 15


def test_fitting_and_reporting_rows_never_overlap_and_keep_each_label(real_faces):
    faces = FaceSet(real_faces["pixels"], real_faces["emotion"])
    fit, report = calibration.halves(faces.labels, 0.5, seed=1)
    assert not set(fit) & set(report) and len(fit) + len(report) == len(faces)
    for label in np.unique(faces.labels):
        count = (faces.labels == label).sum()
        assert abs((faces.labels[fit] == label).sum() - count / 2) <= 1
