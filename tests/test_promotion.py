"""Champion and challenger: no silent downgrade, deliberate promotion and rollback, on the moto server."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from cli import cli
from facemood import bundle, registry, storage
from facemood.config import REPO_ROOT
from facemood.errors import BundleIntegrityError, NotFound
from facemood.faceset import FaceSet
from local_stack.stack import seed_model_bucket
from pipeline import main as pipeline_main
from pipeline import promotion
from pipeline.scores import classification_scores
from pipeline.settings import load_pipeline_settings
from tests.test_training import MODELS, TINY

pytestmark = pytest.mark.integration  # docs/testing.md: the layers

STORE = f"s3://{MODELS}"


@pytest.fixture
def models_bucket(s3):
    """An empty model bucket on the moto server."""
    s3.create_bucket(Bucket=MODELS)
    return s3


def faces_file(tmp_path, real_faces, name: str, shift_labels: int = 0):
    """The real faces as an .npz training file; ``shift_labels`` trains a model that is wrong on purpose."""
    path = tmp_path / f"{name}.npz"
    labels = real_faces["emotion"].copy()
    training = real_faces["usage"] == "Training"
    labels[training] = (labels[training] + shift_labels) % 7
    np.savez(path, pixels=real_faces["pixels"], emotion=labels, usage=real_faces["usage"])
    return str(path)


def train(tmp_path, data: str, epochs: int = 2, **gate):
    """One tiny run published to the model bucket (12 epochs learn more than always saying "happy")."""
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    settings = load_pipeline_settings(config, data, STORE)
    settings = replace(settings, training=replace(settings.training, epochs=epochs))
    if gate:
        settings = replace(settings, gate=replace(settings.gate, **gate))
    return pipeline_main.run(settings, storage.s3_client())  # as the CLI builds it


def manifests(s3) -> dict[str, bytes]:
    """Every manifest in the bucket, by key."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=MODELS).get("Contents", [])
            if o["Key"].endswith("manifest.json")]
    return {key: s3.get_object(Bucket=MODELS, Key=key)["Body"].read() for key in keys}


def test_a_worse_run_is_kept_rejected_and_the_served_model_stays(models_bucket, real_faces, tmp_path):
    served = seed_model_bucket(models_bucket, MODELS, REPO_ROOT)  # the shipped model, about 70%
    assert served
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--data",
                                      faces_file(tmp_path, real_faces, "faces"), "--output", STORE])
    assert result.exit_code == 2, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "rejected" and summary["gate"]["passed"]  # the gate alone would have let it in
    reason = summary["champion"]["reasons"][0]
    mine, theirs = summary["validation"]["accuracy"], summary["champion"]["served"]["accuracy"]
    assert reason == f"accuracy {mine:.1%} vs served {theirs:.1%} on the same 100 faces" and mine < theirs
    assert f"`facemood models promote {summary['run_id']}` would serve yours anyway" in result.stderr
    assert f"the served model ({theirs:.1%} on the same faces) stays" in result.stderr
    assert registry.served_run_id(STORE, models_bucket) == served
    kept = bundle.open_bundle(bundle.BundleRef(bundle.bundle_uri(STORE, summary["run_id"]), None), models_bucket)
    assert kept.manifest.status == "rejected" and kept.manifest.reasons[0] == reason
    assert kept.manifest.reasons[1].startswith("macro-F1 ")
    assert [m.run_id for m in registry.read_history(STORE, models_bucket)] == [served]  # no move recorded
    metrics = [json.loads(line) for line in result.stderr.splitlines() if '"_aws"' in line]
    assert len(metrics) == 1 and metrics[0]["service"] == "training" and metrics[0]["Promoted"] == [0.0]
    assert metrics[0]["ValidationAccuracy"] == [round(100 * mine, 2)]
    assert {m["Name"]: m["Unit"] for m in metrics[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {
        "ValidationAccuracy": "Percent", "ValidationMacroF1": "Percent", "Promoted": "Count"}


def test_a_better_run_replaces_the_served_model_and_rollback_restores_it(models_bucket, real_faces, tmp_path):
    # taught happy faces as disgust: worse on the true labels (initial weights are seeded: deterministic)
    weak = train(tmp_path, faces_file(tmp_path, real_faces, "wrong", shift_labels=5), epochs=12)
    assert weak["status"] == "accepted" and weak["champion"]["served_run_id"] is None
    better = train(tmp_path, faces_file(tmp_path, real_faces, "right"), epochs=12)
    assert better["status"] == "accepted", (better["champion"]["reasons"], better["gate"])
    assert better["champion"]["served_run_id"] == weak["run_id"]
    assert better["validation"]["accuracy"] > better["champion"]["served"]["accuracy"]
    assert registry.served_run_id(STORE, models_bucket) == better["run_id"]
    before = manifests(models_bucket)

    runner = CliRunner()
    result = runner.invoke(cli, ["models", "promote", weak["run_id"], "--store", STORE, "--reason", "rollback test"])
    assert result.exit_code == 0, result.output
    assert registry.served_run_id(STORE, models_bucket) == weak["run_id"]
    assert bundle.load_bundle(STORE, models_bucket).run_id == weak["run_id"]  # latest.json verifies
    moves = registry.read_history(STORE, models_bucket)
    assert [(m.run_id, m.previous_run_id, m.by) for m in moves] == [
        (weak["run_id"], None, "train"), (better["run_id"], weak["run_id"], "train"),
        (weak["run_id"], better["run_id"], "models promote")]
    assert moves[-1].reason == "rollback test"
    assert manifests(models_bucket) == before  # no verified manifest was rewritten

    listed = json.loads(runner.invoke(cli, ["models", "list", "--store", STORE, "--json"]).stdout)
    assert [(e["run_id"], e["served"], len(e["promoted"])) for e in listed] == [
        (weak["run_id"], True, 2), (better["run_id"], False, 1)]
    table = runner.invoke(cli, ["models", "list", "--store", STORE]).stdout
    assert f"{weak['run_id']}" in table and "SERVED" in table and "PublicTest accuracy" in table


def test_promotion_verifies_first(models_bucket, real_faces, tmp_path):
    first = train(tmp_path, faces_file(tmp_path, real_faces, "faces"))
    second = train(tmp_path, faces_file(tmp_path, real_faces, "faces"), min_validation_accuracy=0.99)
    assert second["status"] == "rejected"
    models_bucket.put_object(Bucket=MODELS, Key=f"models/{second['run_id']}/model.onnx", Body=b"tampered")
    with pytest.raises(BundleIntegrityError, match="fails its sha256 check"):
        registry.promote(STORE, second["run_id"], "test", client=models_bucket)
    with pytest.raises(NotFound, match="no model 20990101-000000-abcdef"):
        registry.promote(STORE, "20990101-000000-abcdef", "test", client=models_bucket)
    result = CliRunner().invoke(cli, ["models", "promote", "nope", "--store", STORE])
    assert result.exit_code == 1 and "Error: no model nope under" in result.stderr
    assert registry.served_run_id(STORE, models_bucket) == first["run_id"]
    assert len(registry.read_history(STORE, models_bucket)) == 1


def test_list_and_promote_work_on_a_local_folder(real_faces, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    store = str(tmp_path / "store")
    data = faces_file(tmp_path, real_faces, "faces")
    first = pipeline_main.run(load_pipeline_settings(config, data, store))
    strict = load_pipeline_settings(config, data, store)
    second = pipeline_main.run(replace(strict, gate=replace(strict.gate, min_validation_accuracy=0.99)))
    assert (first["status"], second["status"]) == ("accepted", "rejected")
    runner = CliRunner()
    listed = json.loads(runner.invoke(cli, ["models", "list", "--store", store, "--json"]).stdout)
    assert [(e["run_id"], e["status"], e["served"]) for e in listed] == [
        (first["run_id"], "accepted", True), (second["run_id"], "rejected", False)]
    assert "validation accuracy" in listed[1]["reasons"][0]
    result = runner.invoke(cli, ["models", "promote", second["run_id"], "--store", store])
    assert result.exit_code == 0, result.output
    assert registry.served_run_id(store) == second["run_id"]
    assert [m.by for m in registry.read_history(store)] == ["train", "models promote"]
    history = sorted((tmp_path / "store" / "models" / "history").iterdir())
    assert len(history) == 2 and all(p.suffix == ".json" for p in history)


def test_real_photos_weigh_in_the_champion_rule(models_bucket, real_faces, tmp_path):
    """A run with real photos may trail the served model on FER2013 by the margin only when it reads
    the tune photos at least as well; one that reads them worse stays out whatever FER2013 says."""
    seed_model_bucket(models_bucket, MODELS, REPO_ROOT)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    settings = load_pipeline_settings(config, faces_file(tmp_path, real_faces, "faces"), STORE)
    settings = replace(settings, gate=replace(settings.gate, served_margin=0.01, served_photo_margin=0.0))
    public = real_faces["usage"] == "PublicTest"
    validation = FaceSet(real_faces["pixels"][public], real_faces["emotion"][public])
    photos = FaceSet(real_faces["pixels"][~public][:120], real_faces["emotion"][~public][:120])  # stand-ins
    served = bundle.load_bundle(STORE, models_bucket)
    theirs = classification_scores(validation.labels, served.predict_proba(validation.pixels))
    theirs_photos = classification_scores(photos.labels, served.predict_proba(photos.pixels))
    trailing = {k: theirs[k] - 0.005 for k in ("accuracy", "macro_f1")}  # within the 1-point margin

    better_photos = {k: theirs_photos[k] + 0.05 for k in ("accuracy", "macro_f1")}
    outcome = promotion.compare_with_served(settings, models_bucket, validation, trailing, photos, better_photos)
    assert outcome["reasons"] == [] and outcome["photos"]["rows"] == 120
    assert outcome["photos"]["served"]["accuracy"] == pytest.approx(theirs_photos["accuracy"])
    said = promotion.describe({"status": "accepted", "validation": {"accuracy": trailing["accuracy"]},
                               "champion": outcome})
    assert said.endswith(f"on 120 photos of real people it reads {better_photos['accuracy']:.1%} against "
                         f"{theirs_photos['accuracy']:.1%}.")

    worse_photos = {"accuracy": theirs_photos["accuracy"] - 0.02, "macro_f1": theirs_photos["macro_f1"] + 0.05}
    outcome = promotion.compare_with_served(settings, models_bucket, validation, trailing, photos, worse_photos)
    assert outcome["reasons"] == [f"accuracy {worse_photos['accuracy']:.1%} vs served "
                                  f"{theirs_photos['accuracy']:.1%} on the same 120 tune photos"]

    # without photos the rule is FER2013's alone, as before
    assert promotion.compare_with_served(settings, models_bucket, validation, trailing)["reasons"] == []
    assert "photos" not in promotion.compare_with_served(settings, models_bucket, validation, trailing)
