"""The bundle's contract: every manifest the repository ships loads as a typed Manifest, a new
one is checked as a reader would check it, and a broken one names its problem."""

from __future__ import annotations

import json

import pytest

from facemood.distress import DistressRule
from facemood.errors import BundleIntegrityError
from facemood.manifest import FORMAT_VERSION, FileRecord, Manifest
from tests.conftest import REPO_ROOT

SHIPPED = sorted((REPO_ROOT / "models").glob("*/manifest.json"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.parent.name)
def test_every_shipped_bundle_loads_and_writes_back_the_same_bytes(path):
    payload = path.read_bytes()
    manifest = Manifest.loads(payload)
    assert manifest.run_id == path.parent.name and "model.onnx" in manifest.files
    assert manifest.to_bytes() == payload  # its sha256 is what latest.json names: never rewritten
    assert manifest.validation_name == "PublicTest" and manifest.metrics["PublicTest"]["accuracy"] > 0.69


def test_old_bundles_read_as_they_were_written():
    served = Manifest.loads((REPO_ROOT / "models" / "20261130-151105-1afd64" / "manifest.json").read_bytes())
    assert served.distress_rule == DistressRule(("sad", "fear", "angry"), 0.55, "max")
    assert served.photo_stage is not None and served.photo_stage.split.folders["dev"] == (0.4, 0.2, 0.4)
    assert served.photo_stage.split.across_folders is False  # split each folder on its own, as then
    assert served.first_pass is not None and served.first_pass.rest_passes == 7
    before = Manifest.loads((REPO_ROOT / "models" / "20261127-072527-6eae34" / "manifest.json").read_bytes())
    assert before.photo_stage is None and before.distress_rule is None and before.photo_calibration is None


def test_a_new_manifest_is_completed_and_checked_as_it_will_be_read():
    entries = {"status": "accepted", "metrics": {"PublicTest": {"accuracy": 0.71, "macro_f1": 0.69}},
               "photo_finetune": {"split": {"seed": 1, "folders": {"dev": [0.4, 0.2, 0.4]}, "across_folders": True},
                                  "tune_photos": 10},
               "distress_threshold": {"emotions": ["sad"], "combine": "max", "threshold": 0.6}}
    manifest = Manifest.for_run("run-1", entries, {"model.onnx": FileRecord("ab" * 32, 10)})
    assert manifest.format_version == FORMAT_VERSION and manifest.record["labels"][0] == "angry"
    assert manifest.photo_stage.split.across_folders and manifest.distress_rule.threshold == 0.6
    assert Manifest.loads(manifest.to_bytes()) == manifest
    with pytest.raises(BundleIntegrityError, match="distress_threshold is not valid"):
        Manifest.for_run("run-2", {**entries, "distress_threshold": {"emotions": ["sad"], "threshold": 2}},
                         {"model.onnx": FileRecord("ab" * 32, 10)})


@pytest.mark.parametrize(("change", "said"), [
    (lambda m: m.pop("files"), "is not a valid manifest: no 'files'"),
    (lambda m: m.update(format_version=FORMAT_VERSION + 1), f"has bundle format {FORMAT_VERSION + 1}"),
    (lambda m: m["metrics"]["PublicTest"].update(accuracy=float("nan")), "the PublicTest metrics are not numbers"),
    (lambda m: m["photo_calibration"].update(temperature=-1), "photo_calibration is not valid"),
])
def test_a_broken_manifest_names_its_problem(change, said):
    manifest = json.loads((REPO_ROOT / "models" / "20261130-151105-1afd64" / "manifest.json").read_text())
    change(manifest)
    with pytest.raises(BundleIntegrityError, match=said):
        Manifest.loads(json.dumps(manifest).encode(), "models/x/manifest.json")
