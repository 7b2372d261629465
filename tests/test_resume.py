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

from tests.test_training import TINY

EPOCHS = 25
RESUMABLE = TINY.replace("epochs: 2,", f"epochs: {EPOCHS}, early_stopping_patience: {EPOCHS},").replace(
    "model: {widths: [8, 16], convs_per_block: [1, 1], dropout: 0.1}",
    "model: {widths: [4, 8], convs_per_block: [1, 1], dropout: 0.1, member_seeds: [3, 4]}")


def train(tmp_path, workdir, output) -> subprocess.Popen:
    """`facemood train` in a child process, as `make model` runs it."""
    return subprocess.Popen(  # pylint: disable=consider-using-with  # waited for or killed by the caller
        [sys.executable, "-m", "facemood", "train", "--config", str(tmp_path / "resumable.yaml"),
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
