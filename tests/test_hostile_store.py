# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name
"""Hostile model stores and configs through the CLI: a run id that is a path, records that are
not JSON, metrics that are not numbers, config values that are not finite, check-config's folder."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from facemood import aws, bundle, registry
from facemood.app_settings import load_app_settings
from facemood.bundle import Bundle
from facemood.checkin import read_faces
from facemood.config import CONFIG_DIR
from facemood.errors import InvalidImage
from facemood.faces import Face
from facemood.model_cache import ModelCache
from tests.conftest import REPO_ROOT


@pytest.fixture
def store(tmp_path):
    """A local store with two bundles of the shipped network; the first is served."""
    shipped = bundle.read_latest(str(REPO_ROOT))
    if shipped is None:
        pytest.skip("no shipped model under models/")
    root = tmp_path / "store"
    for run_id in ("run-a", "run-b"):
        folder = tmp_path / run_id
        folder.mkdir()
        shutil.copyfile(REPO_ROOT / shipped["bundle"] / bundle.MODEL_NAME, folder / bundle.MODEL_NAME)
        bundle.write_bundle(folder, str(root), run_id, {"status": "accepted", "created": run_id,
                                                        "metrics": {"PublicTest": {"accuracy": 0.7, "macro_f1": 0.6}}})
    registry.promote(str(root), "run-a", "first")
    return root


def test_a_run_id_is_a_name_never_a_path(store, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "models" / "run-x"
    shutil.copytree(store / "models" / "run-b", elsewhere)
    result = CliRunner().invoke(cli, ["models", "promote", "../../elsewhere/models/run-x", "--store", str(store)])
    assert result.exit_code == 1
    assert "Error: '../../elsewhere/models/run-x' is not a model's run id" in result.stderr
    assert registry.served_run_id(str(store)) == "run-a"


def test_models_list_names_each_unreadable_file_and_lists_the_rest(store, caplog):
    history = store / "models" / "history"
    (history / "20990101T000000000000000-bad.json").write_text("{not json")
    (history / "20990101T000000000000001-partial.json").write_text('{"time": "2099"}')
    (history / "x.json").mkdir()  # a folder named like a record: it was an IsADirectoryError traceback
    (store / "models" / "run-b" / "manifest.json").write_text("[1, 2")
    broken = store / "models" / "run-c"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps({"created": "z", "status": "accepted",
                                                      "metrics": {"PublicTest": {"accuracy": "high"}}}))
    result = CliRunner().invoke(cli, ["models", "list", "--store", str(store)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("run-a") and "SERVED" in line for line in lines)
    assert any(line.startswith("run-b") and "unreadable" in line for line in lines)
    assert "why: manifest.json is not a valid manifest: the PublicTest metrics are not numbers" in result.stdout
    logged = caplog.text + result.stderr
    assert "20990101T000000000000000-bad.json: not JSON" in logged
    assert "20990101T000000000000001-partial.json: it has no 'run_id'" in logged
    assert "x.json is a folder, not a file" in logged


@pytest.mark.parametrize(("value", "word"), [(".nan", "nan"), (".inf", "inf")])
def test_config_numbers_must_be_finite(tmp_path, monkeypatch, value, word):
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    app = folder / "app.yaml"
    app.write_text(re.sub(r"threshold: [0-9.]+", f"threshold: {value}", app.read_text(), count=1))
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(folder))
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 1
    assert f"threshold must be a finite number, got {word}" in result.stderr


@pytest.mark.parametrize(("change", "message"), [
    ("epochs: 60", "epochs must be >= 1, got -3"),
    ("extends: pipeline.yaml", "loops back to itself"),
])
def test_check_config_reads_the_pipeline_configs_of_the_config_folder(tmp_path, monkeypatch, change, message):
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    overlay = folder / "model-fer2013.yaml"
    text = overlay.read_text()
    if change.startswith("epochs"):
        overlay.write_text(text.replace("epochs: 60", "epochs: -3"))
    else:
        overlay.write_text(text.replace("extends: pipeline.yaml", "extends: model-fer2013.yaml"))
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(folder))
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 1 and message in result.stderr
    assert "config ok" not in result.output


@pytest.fixture
def unreachable_aws(tmp_path, monkeypatch):
    """AWS at a closed loopback port, no region set, one attempt per call."""
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "aws.yaml").write_text("connect_timeout_s: 1\nread_timeout_s: 1\nmax_attempts: 1\n")
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(folder))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.aws_client_settings.cache_clear()
    yield
    aws.aws_client_settings.cache_clear()


@pytest.mark.usefixtures("unreachable_aws")
@pytest.mark.parametrize("command", [["replay-failed"], ["train", "--remote"]])
def test_commands_that_reach_aws_say_so_in_one_line(command):
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot read the stack 'facemood': cannot reach http://127.0.0.1:9")
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


class _WrongInput(torch.nn.Module):
    """Takes colour 64x64 images."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pylint: disable=missing-function-docstring
        return torch.softmax(x.mean(dim=(2, 3)).repeat(1, 3)[:, :7], dim=1)


class _ThreeClasses(torch.nn.Module):
    """Answers three probabilities."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pylint: disable=missing-function-docstring
        return torch.softmax(x.mean(dim=(2, 3)).repeat(1, 3), dim=1)


class _NotANumber(torch.nn.Module):
    """Answers NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pylint: disable=missing-function-docstring
        return x.mean(dim=(2, 3)).repeat(1, 7) * float("nan")


class _NotANumberInTheDark(torch.nn.Module):
    """Answers sensibly, except NaN for a dark face (mean brightness under 0.3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pylint: disable=missing-function-docstring
        brightness = x.mean(dim=(1, 2, 3), keepdim=False)[:, None]
        probabilities = torch.softmax(torch.arange(7.0)[None, :] * brightness, dim=1)
        return torch.where(brightness < 0.3, torch.full_like(probabilities, float("nan")), probabilities)


def export(module: torch.nn.Module, shape: tuple[int, ...], path) -> None:
    """``module`` as an ONNX graph taking ``faces``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter, as pipeline.export uses
        torch.onnx.export(module, (torch.rand(*shape),), str(path), input_names=["faces"],
                          output_names=["probabilities"], dynamic_axes={"faces": {0: "n"}}, dynamo=False)


@pytest.mark.parametrize(("module", "shape", "message"), [
    (_WrongInput(), (2, 3, 64, 64), "does not take faces as float (n,1,48,48)"),
    (_ThreeClasses(), (2, 1, 48, 48), "answers (12, 3) for 12 faces"),
    (_NotANumber(), (2, 1, 48, 48), "does not give probabilities on test faces"),
    (_NotANumberInTheDark(), (2, 1, 48, 48), "does not give probabilities on test faces [4, 5, 9, 10]"),
])
def test_a_model_that_breaks_the_contract_is_never_promoted_or_served(store, tmp_path, module, shape, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    export(module, shape, folder / bundle.MODEL_NAME)
    bundle.write_bundle(folder, str(store), "run-bad", {"status": "accepted"})
    cache = ModelCache(str(store), refresh_seconds=0.0)
    assert cache.current().run_id == "run-a"
    result = CliRunner().invoke(cli, ["models", "promote", "run-bad", "--store", str(store)])
    assert result.exit_code == 1 and message in result.stderr
    bundle.point_latest(str(store), "run-bad")  # moved by hand, around the verification
    assert cache.current().run_id == "run-a"  # the last good model goes on serving
    result = CliRunner().invoke(cli, ["predict", "--model", str(store / "models" / "run-bad"), "x.jpg"])
    assert result.exit_code == 1 and message in result.stderr


def test_a_reading_that_is_not_a_number_is_a_refusal_a_student_understands(tmp_path):
    """Should a graph answer NaN for some face anyway (it passed on the probe faces), the check-in
    refuses the photo in words: it crashed the page (int(NaN)) and `predict` printed NaN."""
    export(_NotANumberInTheDark(), (2, 1, 48, 48), tmp_path / "dark.onnx")
    import onnxruntime  # a bare session: around the bundle's checks

    session = onnxruntime.InferenceSession(str(tmp_path / "dark.onnx"), providers=["CPUExecutionProvider"])
    graph = Bundle("dark", None, session)
    dark = Face(box=(0, 0, 48, 48), score=0.99, crop=np.full((48, 48), 30, np.uint8))
    policy = load_app_settings().distress
    with pytest.raises(InvalidImage, match="could not be read in this photo") as refused:
        read_faces([dark], graph, policy)
    assert refused.value.kind == "unreadable_face"
    lit = replace(dark, crop=np.full((48, 48), 160, np.uint8))
    assert read_faces([lit], graph, policy)[0].probabilities["neutral"] > 0  # a lit face is read
