"""Knowledge distillation: students learn the members' opinion, train as resumable stages and
are served as configured."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from facemood.config import CONFIG_DIR
from facemood.errors import ConfigError, TimeBudgetReached
from facemood.faceset import FaceSet
from pipeline import main as pipeline_main
from pipeline.distill import SoftTargets, teacher_log_probabilities
from pipeline.main import adopt_old_checkpoint_names
from pipeline.model import EmotionCNN
from pipeline.settings import load_pipeline_settings
from pipeline.train import TimeBudget, fit, torch_probabilities
from tests.test_training import TINY

pytestmark = pytest.mark.integration  # docs/testing.md: the layers

HAPPY = 3


def test_the_mixed_loss_is_the_label_loss_at_weight_0_and_zero_when_the_student_agrees_at_weight_1():
    targets = torch.log_softmax(torch.randn(6, 7), dim=1)
    logits, labels, index = torch.randn(4, 7), torch.tensor([0, 1, 2, 3]), torch.tensor([5, 0, 2, 3])
    label_loss = nn.functional.cross_entropy(logits, labels)
    assert torch.equal(SoftTargets(targets, 0.0, 3.0).mix(label_loss, logits, index), label_loss)
    agreeing = SoftTargets(targets, 1.0, 3.0).mix(label_loss, targets[index], index)
    assert agreeing.abs().item() < 1e-6
    assert SoftTargets(targets, 1.0, 3.0).mix(label_loss, logits, index).item() > 0.01


def test_the_teachers_opinion_is_the_mean_log_probability_over_teachers_and_views(real_faces):
    torch.manual_seed(0)
    teachers = [EmotionCNN((4, 8), (1, 1)).eval() for _ in range(2)]
    pixels = real_faces["pixels"][:10]
    got = teacher_log_probabilities(teachers, pixels, flip_tta=True, zoom_tta=1.0, bf16=False)
    x = torch.from_numpy(pixels).unsqueeze(1).float() / 255
    with torch.no_grad():
        expected = torch.stack([torch.log_softmax(t(v), dim=1) for t in teachers
                                for v in (x, torch.flip(x, dims=[3]))]).mean(dim=0)
    assert got.shape == (10, 7) and torch.allclose(got, expected, atol=1e-5)


def train_tiny_distilled(real_faces, weight: float) -> np.ndarray:
    """A tiny distilled network whose teachers say "happy" of every face; its predictions on the faces."""
    train = FaceSet(real_faces["pixels"][:300], real_faces["emotion"][:300].astype(np.int64))
    validation = FaceSet(real_faces["pixels"][300:], real_faces["emotion"][300:].astype(np.int64))
    settings = load_pipeline_settings(CONFIG_DIR / "pipeline.yaml")
    training = replace(settings.training, epochs=8, batch_size=32, learning_rate=0.05, bf16=False, seed=1)
    opinion = torch.full((len(train), 7), -6.0)
    opinion[:, HAPPY] = 0.0
    torch.manual_seed(1)
    distilled = EmotionCNN((8, 16), (1, 1))
    fit(distilled, train, validation, training, settings.batch_transforms, False,
        soft_targets=SoftTargets(opinion, weight, 1.0))
    return torch_probabilities(distilled, validation.pixels, False).argmax(axis=1)


def test_a_distilled_network_follows_its_teachers_opinion_by_the_configured_weight(real_faces):
    taught = train_tiny_distilled(real_faces, weight=1.0)
    untaught = train_tiny_distilled(real_faces, weight=0.0)
    assert (taught == HAPPY).mean() == 1.0  # the teachers' opinion alone: "happy" for every face
    assert (untaught == HAPPY).mean() < 0.9  # the labels alone: other expressions too


def distilling(tmp_path, serve_members: bool):
    """The tests' tiny run with one member and one distilled network."""
    path = tmp_path / "distil.yaml"
    path.write_text(TINY.replace("dropout: 0.1}", "dropout: 0.1, member_seeds: [3]}") +
                    f"distillation: {{distilled_seeds: [5], serve_members: {str(serve_members).lower()}}}\n")
    return path


@pytest.mark.parametrize("serve_members", [True, False])
def test_a_run_with_a_distilled_network_serves_what_the_config_says_and_a_rerun_reloads_it(
        tmp_path, real_faces, caplog, serve_members):
    data = tmp_path / "faces.npz"
    np.savez(data, pixels=real_faces["pixels"], emotion=real_faces["emotion"], usage=real_faces["usage"])
    settings = load_pipeline_settings(distilling(tmp_path, serve_members), str(data), str(tmp_path / "store"))
    workdir = tmp_path / "work"
    with caplog.at_level(logging.INFO):
        first = pipeline_main.run(settings, workdir=workdir)
    assert (workdir / "member-3.pt").exists() and (workdir / "distilled-5.pt").exists()
    assert not list(workdir.glob("*.partial.pt"))
    assert "read 300 training faces for distillation" in caplog.text
    manifest = json.loads((tmp_path / "store" / "models" / first["run_id"] / "manifest.json").read_text())
    assert len(manifest["training"]["members"]) == (2 if serve_members else 1)
    assert manifest["config"]["distillation"]["distilled_seeds"] == [5]
    card = (tmp_path / "store" / "models" / first["run_id"] / "model_card.md").read_text()
    assert ("the last network learned from the 1 member(s)" if serve_members
            else "the served network learned from 1 member(s) the run trained and does not serve") in card

    caplog.clear()
    with caplog.at_level(logging.INFO):
        pipeline_main.run(settings, workdir=workdir)
    assert "distilled-5.pt" in caplog.text and "read 300 training faces" not in caplog.text


def test_serving_neither_members_nor_distilled_networks_is_refused_in_plain_words(tmp_path):
    path = tmp_path / "none.yaml"
    path.write_text(TINY + "distillation: {distilled_seeds: [], serve_members: false}\n")
    with pytest.raises((ConfigError, ValueError), match="serve_members: false needs distilled_seeds"):
        load_pipeline_settings(path)


def test_a_budget_stops_once_the_distillation_targets_are_saved_and_the_next_run_reloads_them(tmp_path, real_faces,
                                                                                          caplog):
    data = tmp_path / "faces.npz"
    np.savez(data, pixels=real_faces["pixels"], emotion=real_faces["emotion"], usage=real_faces["usage"])
    settings = load_pipeline_settings(distilling(tmp_path, True), str(data), str(tmp_path / "store"))
    settings = replace(settings, training=replace(settings.training, epochs=1))  # the member ends in one epoch
    workdir = tmp_path / "work"
    with pytest.raises(TimeBudgetReached, match="after the members read the training faces for distillation"):
        pipeline_main.run(settings, workdir=workdir, budget=TimeBudget(deadline=0.0))  # a budget already spent
    saved = workdir / "distilled-targets.pt"  # the members' opinion is kept: the next run does not redo it
    assert (workdir / "member-3.pt").exists() and saved.exists() and not (workdir / "distilled-5.pt").exists()
    assert torch.load(saved, weights_only=True).shape == (300, 7) and not (tmp_path / "store").exists()
    caplog.clear()  # only the second run's lines below (the first run's may have been captured too)
    with caplog.at_level(logging.INFO):
        pipeline_main.run(settings, workdir=workdir)
    assert f"reloaded the distillation targets from {saved}" in caplog.text and "training faces for" not in caplog.text
    assert (workdir / "distilled-5.pt").exists() and (tmp_path / "store" / "models" / "latest.json").exists()


def test_the_old_name_of_distilled_seeds_is_refused_naming_the_new_one(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text(TINY + "distillation: {student_seeds: [5], serve_members: true}\n")
    with pytest.raises(ConfigError, match="distillation.student_seeds is now distillation.distilled_seeds"):
        load_pipeline_settings(path)


def test_a_workdir_from_before_the_rename_continues_where_it_stopped(tmp_path):
    (tmp_path / "student-5.pt").write_bytes(b"finished")
    (tmp_path / "student-targets.pt").write_bytes(b"targets")
    (tmp_path / "distilled-7.pt").write_bytes(b"newer")
    (tmp_path / "student-7.pt").write_bytes(b"older")
    adopt_old_checkpoint_names(tmp_path)
    assert (tmp_path / "distilled-5.pt").read_bytes() == b"finished"
    assert (tmp_path / "distilled-targets.pt").read_bytes() == b"targets"
    assert (tmp_path / "distilled-7.pt").read_bytes() == b"newer"  # a newer checkpoint is never overwritten
