"""Configuration: overlays, sections, environment overrides checked like the YAML, loud errors."""

from __future__ import annotations

import pytest

from facemood import config as cfg
from facemood.app_settings import load_app_settings
from facemood.augment import load_augment_settings
from facemood.config import CONFIG_DIR, ConfigError
from facemood.faces import load_face_settings
from local_stack.stack import load_stack_settings
from pipeline.settings import load_pipeline_settings


def test_every_committed_config_loads():
    assert load_app_settings().faces == load_face_settings()
    assert load_augment_settings().transforms.copies == 3
    assert load_stack_settings().buckets.model == "facemood-models"
    for name in ("pipeline.yaml", "pipeline-demo.yaml", "model-fer2013.yaml", "model-photos.yaml"):
        assert load_pipeline_settings(CONFIG_DIR / name).training.epochs >= 1


def test_overlays_hold_only_what_they_change():
    base = cfg.read_yaml(CONFIG_DIR / "pipeline.yaml")
    for name, changed in (("pipeline-demo.yaml", {"training", "gate"}),
                          ("model-fer2013.yaml",
                           {"data", "model", "distillation", "first_pass", "training", "gate"})):
        merged = cfg.read_yaml(CONFIG_DIR / name)
        assert set(merged) == set(base)
        assert {key for key in base if merged[key] != base[key]} == changed, name
    demo = load_pipeline_settings(CONFIG_DIR / "pipeline-demo.yaml")
    full = load_pipeline_settings(CONFIG_DIR / "pipeline.yaml")
    assert demo.training.epochs == 3 and demo.training.batch_size == full.training.batch_size
    assert demo.model == full.model and demo.batch_transforms == full.batch_transforms


def test_an_overlay_merges_nested_keys_and_refuses_loops(tmp_path):
    (tmp_path / "base.yaml").write_text("a: {x: 1, y: 2}\nb: [1, 2]\n")
    (tmp_path / "over.yaml").write_text("extends: base.yaml\na: {y: 3}\nb: [4]\n")
    assert cfg.read_yaml(tmp_path / "over.yaml") == {"a": {"x": 1, "y": 3}, "b": [4]}
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back to itself"):
        cfg.read_yaml(tmp_path / "loop.yaml")
    (tmp_path / "missing.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="config file not found: .*nowhere.yaml"):
        cfg.read_yaml(tmp_path / "missing.yaml")


def test_a_missing_key_is_named(tmp_path):
    path = tmp_path / "app.yaml"
    text = (CONFIG_DIR / "app.yaml").read_text().replace("upload_jpeg_quality: 90\n", "")
    path.write_text(text)
    with pytest.raises(ConfigError, match="missing config key upload_jpeg_quality"):
        load_app_settings(path)


def test_environment_overrides_win_and_are_checked(monkeypatch):
    monkeypatch.setenv("FACEMOOD_RAW_BUCKET", "campus-raw")
    monkeypatch.setenv("FACEMOOD_MODEL_URI", "s3://campus-models")
    assert load_augment_settings().buckets.raw == "campus-raw"
    assert load_app_settings().model_uri == "s3://campus-models"
    monkeypatch.setenv("FACEMOOD_CONFIG_DIR", "/nowhere")
    with pytest.raises(ConfigError, match="config file not found: /nowhere/app.yaml"):
        load_app_settings()


def committed_with(folder, name: str, old: str, new: str):
    """A copy of the committed ``config/<name>`` in ``folder`` with ``old`` replaced by ``new``."""
    text = (CONFIG_DIR / name).read_text()
    assert old in text
    path = folder / name
    path.write_text(text.replace(old, new, 1))
    return path


LOADERS = {"app.yaml": load_app_settings, "pipeline.yaml": load_pipeline_settings}


@pytest.mark.parametrize("name, old, new, message", [
    ("app.yaml", "thresholds: [0.2, 0.2, 0.4]", "thresholds: [0.2, 1.5, 0.4]",
     "faces: thresholds[1] must be in [0, 1], got 1.5"),
    ("app.yaml", "thresholds: [0.2, 0.2, 0.4]", "thresholds: [-0.1, 0.2, 0.4]",
     "faces: thresholds[0] must be in [0, 1], got -0.1"),
    ("app.yaml", "merge_overlaps: [0.7, 0.4]", "merge_overlaps: [0.7, 0]",
     "faces: merge_overlaps[1] must be in (0, 1], got 0.0"),
    ("app.yaml", "merge_overlaps: [0.7, 0.4]", "merge_overlaps: [0.7]",
     "faces: merge_overlaps must list two overlaps (P-net's proposals, R-net's boxes)"),
    ("app.yaml", "detect_long_side: 320", "detect_long_side: -320",
     "faces: detect_long_side must be in [48, 4096], got -320"),
    ("app.yaml", "min_face_fraction: 0.18", "min_face_fraction: 0",
     "faces: min_face_fraction must be in (0, 1], got 0.0"),
    ("app.yaml", "threshold: null", "threshold: 1.5", "distress: threshold must be in [0, 1], got 1.5"),
    ("app.yaml", "fallback_threshold: 0.8", "fallback_threshold: -0.2",
     "distress: fallback_threshold must be in [0, 1], got -0.2"),
    ("app.yaml", "combine: sum", "combine: mean", "distress: combine must be one of sum, max, got 'mean'"),
    ("pipeline.yaml", "combines: [sum, max]", "combines: [sum, average]",
     "distress_threshold: combines must be some of sum, max; 'average' is not one"),
    ("pipeline.yaml", "target_recall: 0.60", "target_recall: 60",
     "distress_threshold: target_recall must be in [0, 1], got 60.0"),
    ("pipeline.yaml", "emotions: [sad, fear, angry]", "emotions: [sad, grief]",
     "distress_threshold: emotions must be some of angry, disgust, fear, happy, sad, surprise, neutral; "
     "'grief' is not one"),
    ("app.yaml", "upload_max_side: 1280", "upload_max_side: 0", "upload_max_side must be in [96, 8192], got 0"),
    ("app.yaml", "face_timeout_seconds: 10.0", "face_timeout_seconds: -1",
     "face_timeout_seconds must be in (0, 900], got -1.0"),
    ("pipeline.yaml", "learning_rate: 0.1 ", "learning_rate: -0.1 ",
     "training: learning_rate must be in (0, 10], got -0.1"),
    ("pipeline.yaml", "min_validation_accuracy: 0.6", "min_validation_accuracy: 60",
     "gate: min_validation_accuracy must be in [0, 1], got 60.0"),
    ("pipeline.yaml", "erasing_probability: 0.25", "erasing_probability: 2",
     "batch_transforms: erasing_probability must be in [0, 1], got 2.0"),
    ("pipeline.yaml", "dropout: 0.3", "dropout: 1.3", "model: dropout must be in [0, 1], got 1.3"),
    ("pipeline.yaml", "max_accuracy_loss: 0.0 ", "max_accuracy_loss: 0.5 ",
     "first_pass: max_accuracy_loss must be in [0, 0.05], got 0.5"),
    ("pipeline.yaml", "max_ece_increase: 0.005", "max_ece_increase: -0.005",
     "first_pass: max_ece_increase must be in [0, 0.05], got -0.005"),
    ("pipeline.yaml", "exit_candidates: [0.5, 0.55,", "exit_candidates: [0, 0.55,",
     "first_pass: exit_candidates must be in (0, 1], got 0.0"),
])
def test_out_of_range_settings_name_the_key(tmp_path, name, old, new, message):
    path = committed_with(tmp_path, name, old, new)
    with pytest.raises(ConfigError) as caught:
        LOADERS[name](path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_config_error_names_the_file_once(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_app_settings(missing)
    assert str(caught.value) == f"config file not found: {missing}"
    broken = tmp_path / "app.yaml"
    broken.write_text("model_uri: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_app_settings(broken)
    assert str(caught.value).count(str(broken)) == 1
