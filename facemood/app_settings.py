"""``config/app.yaml``: where the app finds its model and face step, its limits, and the
counselling resources it offers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facemood import config as cfg
from facemood.checkin import DistressSettings
from facemood.faces import FaceSettings

# The environment variables that override keys of config/app.yaml.
APP_OVERRIDES = {"model_uri": cfg.ENV.MODEL_URI, "face_function": cfg.ENV.FACE_FUNCTION}
LOCAL_FACE_STEP = "local"  # face_function's value for the face step run in-process


@dataclass(frozen=True)
class Resource:
    """A counselling resource shown on distress."""

    name: str
    contact: str
    note: str = ""  # optional in each YAML entry


@dataclass(frozen=True)
class AppSettings:
    """The app's settings; see ``config/app.yaml`` for what each key means."""

    model_uri: str  # a store root, a latest.json or a bundle folder
    face_function: str  # LOCAL_FACE_STEP, or the face Lambda's name
    face_timeout_seconds: float
    model_refresh_seconds: float
    upload_max_bytes: int  # an upload may exceed the Lambda payload: it is downscaled first
    upload_max_side: int  # photos are downscaled to this before the face step
    upload_jpeg_quality: int  # the JPEG sent to the face Lambda
    faces: FaceSettings
    distress: DistressSettings
    resources: tuple[Resource, ...]

    def __post_init__(self) -> None:
        cfg.check_range("face_timeout_seconds", self.face_timeout_seconds, 0.0, 900.0, open_low=True)
        cfg.check_range("model_refresh_seconds", self.model_refresh_seconds, 0.0)
        cfg.check_range("upload_max_bytes", self.upload_max_bytes, 1024)
        cfg.check_range("upload_max_side", self.upload_max_side, 96, 8192)
        cfg.check_range("upload_jpeg_quality", self.upload_jpeg_quality, 1, 100)


def load_app_settings(path: str | Path | None = None) -> AppSettings:
    """App settings from ``config/app.yaml`` with environment overrides."""
    return cfg.load(AppSettings, path or cfg.config_path("app.yaml"), overrides=APP_OVERRIDES)
