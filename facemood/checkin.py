"""A check-in: an uploaded photo in, each face's emotion probabilities and distress flag out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from facemood import config as cfg
from facemood.bundle import Bundle
from facemood.emotions import EMOTIONS
from facemood.faces import Face, FaceReading, decode_photo_reduced

if TYPE_CHECKING:
    from facemood.app_settings import AppSettings

# Finds the faces of an upright RGB photo (in-process or through the face Lambda).
FaceStep = Callable[[np.ndarray], FaceReading]


@dataclass(frozen=True)
class DistressSettings:
    """Which top emotions, at or above which probability, count as distress."""

    emotions: tuple[str, ...]
    threshold: float

    def __post_init__(self) -> None:
        unknown = [e for e in self.emotions if e not in EMOTIONS]
        if unknown:
            raise ValueError(f"emotions: unknown emotion {unknown[0]!r}; expected some of {', '.join(EMOTIONS)}")
        cfg.check_range("threshold", self.threshold, 0.0, 1.0)


@dataclass
class FaceResult:
    """One face's reading."""

    face: Face
    probabilities: dict[str, float]
    top: str
    distress: bool


def is_distress(probabilities: dict[str, float], settings: DistressSettings) -> bool:
    """True when the top emotion is a distress emotion at or above the threshold."""
    top = max(probabilities, key=probabilities.get)
    return top in settings.emotions and probabilities[top] >= settings.threshold


def read_faces(faces: list[Face], model: Bundle, distress: DistressSettings) -> list[FaceResult]:
    """Probabilities, top emotion and distress flag for each face."""
    if not faces:
        return []
    probs = model.predict_proba(np.stack([f.crop for f in faces]))
    results = []
    for face, row in zip(faces, probs):
        named = {name: float(p) for name, p in zip(EMOTIONS, row)}
        results.append(FaceResult(face, named, max(named, key=named.get), is_distress(named, distress)))
    return results


def read_upload(data: bytes, settings: AppSettings) -> np.ndarray:
    """Decode an upload defensively and downscale it to ``upload_max_side``: the RGB photo
    the page shows and the face boxes refer to (a large JPEG is decoded at a reduced scale)."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    limits = replace(settings.faces, max_request_bytes=settings.upload_max_bytes)
    rgb, _ = decode_photo_reduced(data, limits, settings.upload_max_side)
    image = Image.fromarray(rgb)
    image.thumbnail((settings.upload_max_side, settings.upload_max_side), Image.Resampling.LANCZOS)
    return np.asarray(image)


@dataclass
class CheckIn:
    """What one photo gave: the photo as shown, a result per face (largest first), faces found."""

    photo: np.ndarray
    results: list[FaceResult]
    faces_found: int  # may exceed len(results): only the largest max_faces are read


def check_in(photo: bytes, face_step: FaceStep, model: Bundle, settings: AppSettings) -> CheckIn:
    """Upload bytes -> the check-in.

    Raises InvalidImage for a bad upload and FaceStepError when the face step fails.
    """
    shown = read_upload(photo, settings)
    reading = face_step(shown)
    return CheckIn(shown, read_faces(reading.faces, model, settings.distress), reading.found)
