"""The training task end to end through the moto server, on a few hundred real faces."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import cli
from facemood import bundle
from facemood.augment import augment_file, load_augment_settings
from facemood.config import CONFIG_DIR, REPO_ROOT, ConfigError
from facemood.errors import BundleIntegrityError, InvalidDataset, StorageError, TrainingError
from facemood.manifest import FORMAT_VERSION
from pipeline import main as pipeline_main
from pipeline.export import check_parity, export_onnx
from pipeline.model import EmotionCNN
from pipeline.settings import load_pipeline_settings
from pipeline.splits import grouped_stratified_split
from pipeline.train import native_bf16, resolved_training
from tests.conftest import csv_text

REFINED, MODELS = "facemood-refined", "facemood-models"
# The tests' tiny run: config/pipeline.yaml with a small network, two epochs and no gate.
TINY = f"""
extends: {CONFIG_DIR / "pipeline.yaml"}
data: {{validation_fraction: 0.2}}
model: {{widths: [8, 16], convs_per_block: [1, 1], dropout: 0.1}}
training: {{epochs: 2, batch_size: 64, learning_rate: 0.05, seed: 1, bf16: false}}
gate: {{min_validation_accuracy: 0.0, min_macro_f1: 0.0}}
"""


@pytest.fixture
def tiny_config(tmp_path):
    """A tiny network, two epochs, no gate."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def stores(s3):
    """The refined and model buckets on the moto server."""
    for name in (REFINED, MODELS):
        s3.create_bucket(Bucket=name)
    return s3


def upload_refined(s3, real_faces, tmp_path, key="refined/fer.abc.csv.gz", usage=True):
    """Refine the real faces as the Lambda would and put the result in the refined bucket."""
    source = tmp_path / "raw.csv"
    source.write_text(csv_text(real_faces["emotion"], real_faces["pixels"], real_faces["usage"] if usage else None,
                               header="emotion,pixels,Usage" if usage else "emotion,pixels"))
    out = tmp_path / "refined.csv.gz"
    augment_file(str(source), str(out), load_augment_settings())
    s3.upload_file(str(out), REFINED, key)
    return f"s3://{REFINED}/{key}"


def model_keys(s3) -> list[str]:
    """Every key in the model bucket."""
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=MODELS).get("Contents", []))


@pytest.mark.integration
def test_tiny_run_publishes_a_verified_bundle_and_moves_latest(stores, real_faces, tmp_path, tiny_config):
    upload_refined(stores, real_faces, tmp_path)
    settings = load_pipeline_settings(tiny_config)
    settings = replace(settings, training=replace(settings.training, bf16=True))  # as config/pipeline.yaml asks
    summary = pipeline_main.run(settings, stores)
    run_id = summary["run_id"]
    assert summary["status"] == "accepted"
    expected = {f"models/{run_id}/{name}" for name in ("model.onnx", "manifest.json", "metrics.json",
                                                          "confusion_matrix.png", "training_curves.png",
                                                          "calibration.png", "model_card.md")}
    keys = set(model_keys(stores))
    history = {k for k in keys if k.startswith("models/history/")}
    assert expected | {"models/latest.json"} == keys - history and len(history) == 1  # the move is recorded
    latest = json.loads(stores.get_object(Bucket=MODELS, Key="models/latest.json")["Body"].read())
    assert latest["run_id"] == run_id
    loaded = bundle.load_bundle(f"s3://{MODELS}", stores)  # resolves latest.json and verifies every hash
    assert loaded.run_id == run_id
    manifest = loaded.manifest.record
    assert loaded.manifest.status == "accepted" and loaded.manifest.format_version == FORMAT_VERSION
    assert manifest["data"]["train_rows"] == 300 * 4 and manifest["data"]["validation_rows"] == 100
    assert manifest["config"]["training"]["epochs"] == 2 and manifest["labels"][3] == "happy"
    assert manifest["config"]["training"]["bf16"] is native_bf16()  # asked for: used only where the CPU has it
    assert manifest["training"]["onnx_parity_max_difference"] <= 1e-4
    probs = loaded.predict_proba(real_faces["pixels"][:5])
    assert probs.shape == (5, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    card = stores.get_object(Bucket=MODELS, Key=f"models/{run_id}/model_card.md")["Body"].read().decode()
    assert "not a diagnosis" in card and "PublicTest" in card
    png = stores.get_object(Bucket=MODELS, Key=f"models/{run_id}/confusion_matrix.png")["Body"].read()
    assert png.startswith(b"\x89PNG")


def test_bfloat16_is_used_only_where_the_cpu_computes_it_natively():
    asked = load_pipeline_settings().training
    assert asked.bf16  # config/pipeline.yaml asks for it
    assert resolved_training(asked, native=True).bf16
    assert not resolved_training(asked, native=False).bf16  # emulated: an order of magnitude slower
    assert not resolved_training(replace(asked, bf16=False), native=True).bf16
    assert isinstance(native_bf16(), bool)


@pytest.mark.integration
def test_gate_failure_keeps_the_bundle_marked_rejected_and_latest_untouched(stores, real_faces, tmp_path,
                                                                              tiny_config):
    upload_refined(stores, real_faces, tmp_path)
    first = pipeline_main.run(load_pipeline_settings(tiny_config), stores)
    before = stores.get_object(Bucket=MODELS, Key="models/latest.json")["Body"].read()
    strict = load_pipeline_settings(tiny_config)
    strict = replace(strict, gate=replace(strict.gate, min_validation_accuracy=0.99))
    second = pipeline_main.run(strict, stores)
    assert second["status"] == "rejected" and "validation accuracy" in second["gate"]["reasons"][0]
    assert stores.get_object(Bucket=MODELS, Key="models/latest.json")["Body"].read() == before
    key = f"models/{second['run_id']}/manifest.json"
    manifest = json.loads(stores.get_object(Bucket=MODELS, Key=key)["Body"].read())
    assert manifest["status"] == "rejected" and manifest["gate"]["passed"] is False
    assert bundle.load_bundle(f"s3://{MODELS}", stores).run_id == first["run_id"]


@pytest.mark.integration
def test_cli_train_exits_2_on_gate_failure_and_evaluate_prints_metrics(stores, real_faces, tmp_path, tiny_config,
                                                                       monkeypatch):
    data = upload_refined(stores, real_faces, tmp_path)
    strict = tmp_path / "strict.yaml"
    strict.write_text(TINY.replace("min_validation_accuracy: 0.0", "min_validation_accuracy: 0.99"))
    result = CliRunner().invoke(cli, ["train", "--config", str(strict), "--data", data])
    assert result.exit_code == 2 and json.loads(result.stdout)["status"] == "rejected"
    assert "models/latest.json" not in model_keys(stores)
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config), "--data", data])
    assert result.exit_code == 0, result.output
    npz = tmp_path / "eval.npz"
    np.savez(npz, pixels=real_faces["pixels"][300:], emotion=real_faces["emotion"][300:])
    result = CliRunner().invoke(cli, ["evaluate", "--model", f"s3://{MODELS}", str(npz)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["count"] == 100 and 0 <= metrics["accuracy"] <= 1
    assert np.array(metrics["confusion_matrix"]).sum() == 100 and set(metrics["per_class"]) >= {"disgust"}
    # without --model: the model the app serves (config/app.yaml's model_uri); it was a traceback
    monkeypatch.setenv("FACEMOOD_MODEL_URI", f"s3://{MODELS}")
    served = CliRunner().invoke(cli, ["evaluate", str(npz)])
    assert served.exit_code == 0, served.output
    assert json.loads(served.stdout)["run_id"] == metrics["run_id"]


def test_onnx_export_matches_pytorch_within_1e4(tmp_path, real_faces):
    torch.manual_seed(0)
    net = EmotionCNN((8, 16, 32), (1, 1, 1)).eval()
    path = tmp_path / "model.onnx"
    serving = export_onnx([net], path, flip_tta=True)
    exported = bundle.load_onnx_file(path)
    assert check_parity(serving, exported, real_faces["pixels"][:64]) <= 1e-4
    other = EmotionCNN((8, 16, 32), (1, 1, 1)).eval()
    with pytest.raises(TrainingError, match="ONNX export differs from PyTorch"):
        check_parity(export_onnx([other], tmp_path / "other.onnx", True), exported, real_faces["pixels"][:64])


@pytest.fixture
def published(stores):
    """The served bundle as the training task published it, with its latest.json, copied into this
    test's model bucket; its run id. (Publishing is tested above; these tests tamper with its result.)"""
    pointer = bundle.read_latest(str(REPO_ROOT))
    if pointer is None:
        pytest.skip("no shipped model under models/")
    stores.upload_file(str(REPO_ROOT / "models" / "latest.json"), MODELS, "models/latest.json")
    for path in sorted((REPO_ROOT / pointer["bundle"]).iterdir()):
        stores.upload_file(str(path), MODELS, f"{pointer['bundle'].rstrip('/')}/{path.name}")
    return pointer["run_id"]


def test_tampered_model_is_refused(stores, published):
    key = f"models/{published}/model.onnx"
    data = bytearray(stores.get_object(Bucket=MODELS, Key=key)["Body"].read())
    data[-10] ^= 0xFF
    stores.put_object(Bucket=MODELS, Key=key, Body=bytes(data))
    with pytest.raises(BundleIntegrityError, match="model.onnx fails its sha256 check"):
        bundle.load_bundle(f"s3://{MODELS}", stores)


def test_incomplete_bundle_is_refused(stores, published):
    stores.delete_object(Bucket=MODELS, Key=f"models/{published}/metrics.json")
    with pytest.raises(BundleIntegrityError, match="incomplete: metrics.json is missing"):
        bundle.load_bundle(f"s3://{MODELS}/models/{published}", stores)


def test_newer_format_and_swapped_manifest_are_refused(stores, published):
    key = f"models/{published}/manifest.json"
    manifest = json.loads(stores.get_object(Bucket=MODELS, Key=key)["Body"].read())
    manifest["format_version"] = FORMAT_VERSION + 1
    stores.put_object(Bucket=MODELS, Key=key, Body=json.dumps(manifest).encode())
    with pytest.raises(BundleIntegrityError, match="does not match the hash in latest.json"):
        bundle.load_bundle(f"s3://{MODELS}", stores)
    with pytest.raises(BundleIntegrityError, match=f"has bundle format {FORMAT_VERSION + 1}"):
        bundle.load_bundle(f"s3://{MODELS}/models/{published}", stores)


def test_no_published_model_is_a_clear_error(stores):
    with pytest.raises(StorageError, match="no published model"):
        bundle.load_bundle(f"s3://{MODELS}", stores)


def test_empty_data_fails_and_publishes_nothing(stores, tiny_config):
    stores.put_object(Bucket=REFINED, Key="refined/empty.csv", Body=b"emotion,pixels,Usage\n")
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config)])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: no valid rows: the file has no data rows after the header"
    assert model_keys(stores) == []


def test_all_invalid_data_names_the_first_bad_rows(stores, tiny_config):
    body = "emotion,pixels\n8," + " ".join(["1"] * 2304) + "\n"
    stores.put_object(Bucket=REFINED, Key="refined/bad.csv", Body=body.encode())
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config)])
    assert result.exit_code == 1 and "line 2: emotion 8 is outside 0..6" in result.stderr
    assert model_keys(stores) == []


def test_single_class_is_refused(stores, real_faces, tiny_config):
    n = 50
    text = csv_text(np.full(n, 3), real_faces["pixels"][:n], ["Training"] * 40 + ["PublicTest"] * 10)
    stores.put_object(Bucket=REFINED, Key="refined/one.csv", Body=text.encode())
    with pytest.raises(TrainingError, match="single class"):
        pipeline_main.run(load_pipeline_settings(tiny_config), stores)
    assert model_keys(stores) == []


def test_missing_bucket_and_key_are_clear_errors(s3, tiny_config):
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config)])
    assert result.exit_code == 1 and result.stderr.strip() == "Error: bucket 'facemood-refined' does not exist"
    s3.create_bucket(Bucket=REFINED)
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config), "--data", f"s3://{REFINED}/nope.csv"])
    assert result.exit_code == 1 and result.stderr.strip() == f"Error: s3://{REFINED}/nope.csv does not exist"
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config)])
    assert result.exit_code == 1 and "no refined data under s3://facemood-refined/refined/" in result.stderr


def test_without_usage_the_split_keeps_every_copy_of_a_face_on_one_side(stores, real_faces, tmp_path):
    uri = upload_refined(stores, real_faces, tmp_path, usage=False)
    from facemood.dataset import load_faces

    faces = load_faces(uri, stores)
    assert faces.usage is None and faces.augmented.sum() == 3 * 400
    mask = grouped_stratified_split(faces.labels, faces.source, 0.2, seed=3)
    held, kept = set(faces.source[mask].tolist()), set(faces.source[~mask].tolist())
    assert held and kept and not held & kept
    assert abs(len(held) / 400 - 0.2) < 0.03


def test_config_is_loud_about_unknown_keys_and_env_overrides_buckets(tmp_path, tiny_config, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("dropout: 0.1", "dropout: 0.1, depth: 3"))
    with pytest.raises(ConfigError, match="unknown config key model.depth"):
        load_pipeline_settings(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(TINY.replace("epochs: 2,", "epochs: two,"))
    with pytest.raises(ConfigError, match="training.epochs: expected int, got str 'two'"):
        load_pipeline_settings(wrong)
    monkeypatch.setenv("FACEMOOD_MODEL_BUCKET", "other-models")
    assert load_pipeline_settings(tiny_config).output_uri == "s3://other-models"
    assert load_pipeline_settings().training.epochs >= 1  # the committed config loads


def test_npz_that_needs_pickle_is_refused(tmp_path):
    from facemood.faceset import load_npz

    path = tmp_path / "evil.npz"
    np.savez(path, pixels=np.array([object()], dtype=object), emotion=np.zeros(1))
    with pytest.raises(InvalidDataset):
        load_npz(io.BytesIO(path.read_bytes()))
