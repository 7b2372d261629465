"""Configuration: overlays, sections, environment overrides checked like the YAML, loud errors."""

from __future__ import annotations

import pytest

from facemood import config as cfg
from facemood.app_settings import load_app_settings
from facemood.augment import load_augment_settings
from facemood.config import CONFIG_DIR, ConfigError
from facemood.faces import load_face_settings
from facemood.local.stack import load_stack_settings
from pipeline.settings import load_pipeline_settings


def test_every_committed_config_loads():
    assert load_app_settings().faces == load_face_settings()
    assert load_augment_settings().transforms.copies == 3
    assert load_stack_settings().buckets.model == "facemood-models"
    for name in ("pipeline.yaml", "pipeline-demo.yaml", "model-fer2013.yaml"):
        assert load_pipeline_settings(CONFIG_DIR / name).training.epochs >= 1


def test_overlays_hold_only_what_they_change():
    base = cfg.read_yaml(CONFIG_DIR / "pipeline.yaml")
    for name, changed in (("pipeline-demo.yaml", {"training", "gate"}),
                          ("model-fer2013.yaml", {"data", "training", "gate"})):
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
