"""A check-in: an uploaded photo in, each face's emotion probabilities and distress flag out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from facemood import config as cfg
from facemood.bundle import Bundle
from facemood.distress import DistressPolicy, percent
from facemood.emotions import EMOTIONS
from facemood.errors import InvalidImage
from facemood.faces import MIB, Face, FoundFaces, decode_photo_reduced, fit_long_side
from facemood.i18n import ENGLISH, Words, expression_names

if TYPE_CHECKING:
    from facemood.app_settings import AppSettings

log = logging.getLogger(__name__)

# Finds the faces of an uploaded photo's bytes (in-process or through the face Lambda).
FaceStep = Callable[[bytes], FoundFaces]


@dataclass(frozen=True)
class ClaritySettings:
    """When a reading is clear enough to name one expression (``clarity`` in ``config/app.yaml``)."""

    clear_min_probability: float  # the top emotion's probability
    clear_min_margin: float  # its lead over the second

    def __post_init__(self) -> None:
        cfg.check_range("clear_min_probability", self.clear_min_probability, 0.0, 1.0)
        cfg.check_range("clear_min_margin", self.clear_min_margin, 0.0, 1.0)


A_LITTLE = 0.10  # a second emotion at least this likely is mentioned


@dataclass
class FaceReading:
    """One face's reading."""

    face: Face
    probabilities: dict[str, float]
    top: str
    flagged: bool  # the distress flag (facemood.distress): the page offers help first
    clear: bool = True  # False: the top emotion does not stand out (see ClaritySettings)

    def ranked(self) -> list[tuple[str, float]]:
        """(emotion, probability), most likely first."""
        return sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)

    def sentence(self, words: Words = ENGLISH) -> str:
        """The reading in plain words (in ``words``' language), honest when it is unclear."""
        (first, p1), (second, p2) = self.ranked()[:2]
        names = expression_names(words)
        parts = {"first": names[first], "p1": percent(p1), "second": names[second], "p2": percent(p2)}
        if not self.clear:
            return words.gettext("Hard to read: maybe {first} ({p1}%) or {second} ({p2}%)").format(**parts)
        if p2 >= A_LITTLE:
            return words.gettext("Looks mostly {first} ({p1}%), with a little {second} ({p2}%)").format(**parts)
        return words.gettext("Looks mostly {first} ({p1}%)").format(**parts)


def is_clear(probabilities: dict[str, float], settings: ClaritySettings) -> bool:
    """True when the top emotion is likely enough and ahead of the second by enough."""
    first, second = sorted(probabilities.values(), reverse=True)[:2]
    return first >= settings.clear_min_probability and first - second >= settings.clear_min_margin


def read_faces(faces: list[Face], model: Bundle, distress: DistressPolicy,
               clarity: ClaritySettings | None = None) -> list[FaceReading]:
    """Each face's reading: probabilities, top emotion, distress flag and (given ``clarity``) whether it is clear."""
    if not faces:
        return []
    probs = model.predict_photo_proba(np.stack([f.crop for f in faces]))
    if not np.isfinite(probs).all():  # a model that passed its checks may still fail on some face: refuse, never NaN
        log.warning("the model gave a reading that is not a number for %d of %d faces",
                    int((~np.isfinite(probs).all(axis=1)).sum()), len(faces))
        raise InvalidImage("the face could not be read in this photo (it may be too dark); please try another "
                           "photo in better light", "unreadable_face")
    flags = distress.rule_for(model.distress_rule).flags(probs)
    readings = []
    for face, row, flagged in zip(faces, probs, flags.tolist()):
        named = {name: float(p) for name, p in zip(EMOTIONS, row)}
        readings.append(FaceReading(face, named, max(named, key=named.get), flagged,
                                    is_clear(named, clarity) if clarity else True))
    return readings


def read_upload(data: bytes, settings: AppSettings, max_side: int | None = None) -> np.ndarray:
    """Decode an upload defensively and downscale it to ``max_side`` (``upload_max_side`` unless
    given): the RGB photo the page shows and the face boxes refer to. A large photo is decoded at
    a reduced scale (a JPEG by libjpeg's DCT scaling) under twice that size, where OpenCV's
    bilinear resize loses little at a tenth of the cost of Pillow's Lanczos."""
    import cv2

    side = max_side or settings.upload_max_side
    limits = replace(settings.faces, max_request_bytes=settings.upload_max_bytes)
    rgb, _ = decode_photo_reduced(data, limits, side)
    return fit_long_side(rgb, side, cv2.INTER_LINEAR)


@dataclass
class CheckIn:
    """What one photo gave: the photo as shown, a result per face (largest first), faces found."""

    photo: np.ndarray
    readings: list[FaceReading]
    faces_found: int  # may exceed len(readings): only the largest max_faces are read
    face_seconds: float  # the face step (in-process or the face Lambda)
    model_seconds: float  # the emotion model on the crops

    @property
    def flagged(self) -> bool:
        """Whether any face read offers help first."""
        return any(r.flagged for r in self.readings)

    @property
    def kept_reading(self) -> FaceReading:
        """The one reading the journal and the session's history keep for this check-in: the
        first flagged face (the largest of them), else the largest face. So the journal keeps
        what the student saw help for, not a calm face beside it."""
        return next((r for r in self.readings if r.flagged), self.readings[0])


def check_in(photo: bytes, find_faces: FaceStep, model: Bundle, settings: AppSettings,
             shown_side: int | None = None) -> CheckIn:
    """Upload bytes -> the check-in: the faces come from the same path as ``facemood predict``;
    the photo is decoded again, at the size it is shown (long side ``shown_side``, else
    ``upload_max_side``), with the boxes scaled to it. Each decode is at its own reduced scale:
    one shared decode would be the larger, and would change the pixels the crops are cut from.

    Raises InvalidImage for a bad upload and FaceStepError when the face step fails.
    """
    if len(photo) > settings.upload_max_bytes:
        raise InvalidImage(f"the photo is {len(photo) / MIB:.1f} MiB; the limit is "
                           f"{settings.upload_max_bytes / MIB:.1f} MiB", "too_big")
    started = time.perf_counter()
    found = find_faces(photo)
    face_seconds = time.perf_counter() - started
    shown = read_upload(photo, settings, shown_side)
    width, height = found.image_size
    sx, sy = shown.shape[1] / max(width, 1), shown.shape[0] / max(height, 1)
    faces = [replace(f, box=(round(f.box[0] * sx), round(f.box[1] * sy), round(f.box[2] * sx), round(f.box[3] * sy)))
             for f in found.faces]
    started = time.perf_counter()
    readings = read_faces(faces, model, settings.distress, settings.clarity)
    return CheckIn(shown, readings, found.found, face_seconds, time.perf_counter() - started)


def shrink_upload(photo: bytes, settings: AppSettings) -> bytes:
    """A photo too large for the face Lambda's payload, downscaled to ``upload_max_side`` and
    re-encoded as JPEG (the only case the two face paths differ)."""
    from facemood.face_steps import encode_jpeg

    return encode_jpeg(read_upload(photo, settings), settings.upload_jpeg_quality)
