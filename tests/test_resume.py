"""A training run killed mid-way resumes from its last finished epoch, and finishes as if never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from facemood.errors import TimeBudgetReached
from pipeline.model import EmotionCNN
from pipeline.photo_finetune import MixedFaces, finetune
from pipeline.settings import PhotoFinetuneSettings, load_pipeline_settings
from pipeline.task import RESUME_LATER
from pipeline.train import TimeBudget
from tests.test_training import TINY

pytestmark = pytest.mark.integration  # docs/testing.md: the layers

EPOCHS = 25
RESUMABLE = TINY.replace("epochs: 2,", f"epochs: {EPOCHS}, early_stopping_patience: {EPOCHS},").replace(
    "model: {widths: [8, 16], convs_per_block: [1, 1], dropout: 0.1}",
    "model: {widths: [4, 8], convs_per_block: [1, 1], dropout: 0.1, member_seeds: [3, 4]}")


def train(tmp_path, workdir, output) -> subprocess.Popen:
    """`facemood train` in a child process, as `make model` runs it."""
    return subprocess.Popen(  # waited for or killed by the caller
        [sys.executable, "-m", "cli", "train", "--config", str(tmp_path / "resumable.yaml"),
         "--data", str(tmp_path / "faces.npz"), "--workdir", str(workdir), "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "FACEMOOD_LOG_FORMAT": "text"})


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(tmp_path, real_faces):
    (tmp_path / "resumable.yaml").write_text(RESUMABLE)
    np.savez(tmp_path / "faces.npz", pixels=real_faces["pixels"], emotion=real_faces["emotion"],
             usage=real_faces["usage"])
    workdir = tmp_path / "work"
    first = train(tmp_path, workdir, tmp_path / "store")
    partial = workdir / "member-4.partial.pt"  # the second member, after the first finished
    deadline = time.monotonic() + 120
    while not partial.exists() and first.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint of the second member appeared"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # as a session ending mid-run
    first.wait()
    stopped_after = torch.load(partial, weights_only=False)["epoch"]
    assert (workdir / "member-3.pt").exists() and 1 <= stopped_after < EPOCHS
    assert not (tmp_path / "store").exists()  # nothing published by a run that did not finish

    second = train(tmp_path, workdir, tmp_path / "store")
    _, log = second.communicate(timeout=300)
    assert second.returncode == 0, log
    assert "reloaded" in log and "member-3.pt" in log and f"resumed {partial} after epoch" in log
    resumed = json.loads((tmp_path / "store" / "models" / "latest.json").read_text())["run_id"]
    manifest = json.loads((tmp_path / "store" / "models" / resumed / "manifest.json").read_text())
    assert [m["epochs_run"] for m in manifest["training"]["members"]] == [EPOCHS, EPOCHS]
    assert not partial.exists() and (workdir / "member-4.pt").exists()

    # the same run never stopped: the same member, epoch by epoch
    third = train(tmp_path, tmp_path / "fresh", tmp_path / "fresh-store")
    _, log = third.communicate(timeout=300)
    assert third.returncode == 0, log
    resumed_history = json.loads(torch.load(workdir / "member-4.pt", weights_only=True)["history"])
    fresh_history = json.loads(torch.load(tmp_path / "fresh" / "member-4.pt", weights_only=True)["history"])
    assert resumed_history["validation_accuracy"] == fresh_history["validation_accuracy"]
    assert resumed_history["train_loss"] == fresh_history["train_loss"]


def test_a_time_budget_stops_the_run_after_a_saved_epoch_and_the_same_command_continues(tmp_path, real_faces):
    (tmp_path / "budget.yaml").write_text(TINY.replace("epochs: 2,", "epochs: 3, early_stopping_patience: 3,"))
    np.savez(tmp_path / "faces.npz", pixels=real_faces["pixels"], emotion=real_faces["emotion"],
             usage=real_faces["usage"])
    workdir, store = tmp_path / "work", tmp_path / "store"
    command = ["train", "--config", str(tmp_path / "budget.yaml"), "--data", str(tmp_path / "faces.npz"),
               "--workdir", str(workdir), "--output", str(store)]
    for epoch in (1, 2):  # a budget already spent: each run does one epoch more, saved, then stops
        stopped = CliRunner().invoke(cli, [*command, "--stop-after", "0"])
        assert stopped.exit_code == RESUME_LATER, stopped.output
        assert (f"stopped at the time budget after epoch {epoch} of 3 of member-42.partial.pt (checkpointed): run the "
                "same command again") in stopped.stderr
        assert torch.load(workdir / "member-42.partial.pt", weights_only=False)["epoch"] == epoch
        assert not store.exists()  # nothing published by a run that did not finish
    finished = CliRunner().invoke(cli, command)
    assert finished.exit_code == 0, finished.output
    run_id = json.loads((store / "models" / "latest.json").read_text())["run_id"]
    manifest = json.loads((store / "models" / run_id / "manifest.json").read_text())
    assert manifest["training"]["members"][0]["epochs_run"] == 3 and not (workdir / "member-42.partial.pt").exists()
    without_workdir = CliRunner().invoke(cli, [*command[:-4], "--output", str(store), "--stop-after", "5"])
    assert without_workdir.exit_code == 1 and "--stop-after) needs --workdir" in without_workdir.stderr


def test_the_photo_stage_stops_at_its_budget_after_a_saved_epoch(tmp_path):
    rng = np.random.default_rng(0)
    data = MixedFaces(rng.integers(0, 256, (64, 48, 48), dtype=np.uint8), rng.integers(0, 7, 64),
                      rng.integers(0, 256, (8, 48, 48), dtype=np.uint8), rng.integers(0, 7, 8), np.full(8, 1 / 8))
    settings = PhotoFinetuneSettings(photos=(), split_seed=0, epochs=2, batch_size=32, photo_share=0.25,
                                     learning_rate=0.001, weight_decay=0.0, label_smoothing=0.1,
                                     degrade_probability=0.3, weight_mix=1.0, seed=0)
    transforms = load_pipeline_settings().batch_transforms
    checkpoint = tmp_path / "photo-0.partial.pt"
    with pytest.raises(TimeBudgetReached, match="after epoch 1 of 2 of photo-0.partial.pt"):
        finetune(EmotionCNN((4, 8), (1, 1)), data, settings, transforms, checkpoint, TimeBudget(deadline=0.0))
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 0  # the first epoch (counted from 0), saved
    finetune(EmotionCNN((4, 8), (1, 1)), data, settings, transforms, checkpoint, TimeBudget(deadline=0.0))  # last
