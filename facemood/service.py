"""Photo in, emotions out: the face step (in-process or the face Lambda), the current
model (pulled from the model store, verified, cached, refreshed), and distress checks."""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from facemood import bundle
from facemood import config as cfg
from facemood.emotions import EMOTIONS
from facemood.errors import FaceMoodError, InvalidImage, StorageError
from facemood.faces import Face, FacePreprocessor, FaceSettings, decode_photo

log = logging.getLogger(__name__)
NO_FACE = "no face found"


@dataclass(frozen=True)
class Resource:
    """A counselling resource shown on distress."""

    name: str
    contact: str
    note: str = ""


@dataclass(frozen=True)
class DistressSettings:
    """Which top emotions, above which probability, count as distress."""

    emotions: tuple[str, ...] = ("sad", "fear", "angry")
    threshold: float = 0.5

    def __post_init__(self) -> None:
        unknown = [e for e in self.emotions if e not in EMOTIONS]
        if unknown:
            raise ValueError(f"distress.emotions: unknown emotion {unknown[0]!r}")


@dataclass(frozen=True)
class AppSettings:
    """``config/app.yaml``: where the model and the face step live, limits, resources."""

    model_uri: str = "s3://facemood-models"  # a store root, latest.json or a bundle; env FACEMOOD_MODEL_URI
    face_function: str = "local"  # "local": in-process; otherwise the face Lambda's name; env FACEMOOD_FACE_FUNCTION
    face_timeout_seconds: float = 10.0
    model_refresh_seconds: float = 30.0
    upload_max_bytes: int = 20 * 1024 * 1024  # an upload may exceed the Lambda payload: it is re-encoded
    upload_max_side: int = 1280  # photos are downscaled to this and re-encoded before the face step
    upload_jpeg_quality: int = 90
    faces: FaceSettings = field(default_factory=FaceSettings)
    distress: DistressSettings = field(default_factory=DistressSettings)
    resources: tuple[Resource, ...] = ()


def load_app_settings(path: str | Path | None = None) -> AppSettings:
    """App settings from ``config/app.yaml`` with environment overrides."""
    settings = cfg.load(AppSettings, path or cfg.config_path("app.yaml"))
    return replace(settings,
                   model_uri=cfg.env_override(settings.model_uri, cfg.ENV.MODEL_URI),
                   face_function=cfg.env_override(settings.face_function, cfg.ENV.FACE_FUNCTION))


def face_response(preprocessor: FacePreprocessor, event: dict[str, Any]) -> dict[str, Any]:
    """The face Lambda's response for ``event`` (shared by the handler and the local call)."""
    encoded = event.get("image") if isinstance(event, dict) else None
    if not isinstance(encoded, str) or not encoded:
        return {"ok": False, "error": 'the request must be {"image": "<base64 JPEG, PNG or WebP>"}'}
    if len(encoded) > preprocessor.settings.max_request_bytes:
        return {"ok": False, "error": f"the request is {len(encoded) / 1e6:.1f} MB; Lambda's limit is "
                                      f"{preprocessor.settings.max_request_bytes / 1e6:.1f} MB"}
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return {"ok": False, "error": "the image is not valid base64"}
    try:
        faces, (width, height) = preprocessor(data)
    except InvalidImage as exc:
        return {"ok": False, "error": str(exc)}
    response: dict[str, Any] = {"ok": True, "image_size": [width, height], "faces": [f.to_json() for f in faces]}
    if not faces:
        response["message"] = NO_FACE
    return response


def prepare_upload(data: bytes, settings: AppSettings) -> tuple[bytes, np.ndarray]:
    """Decode an upload (defensively), downscale it and re-encode it as JPEG for the face step.

    Returns the JPEG bytes (within the Lambda payload once base64-encoded) and the RGB
    array that the boxes refer to.
    """
    from PIL import Image  # pylint: disable=import-outside-toplevel

    rgb = decode_photo(data, replace(settings.faces, max_request_bytes=settings.upload_max_bytes))
    image = Image.fromarray(rgb)
    image.thumbnail((settings.upload_max_side, settings.upload_max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=settings.upload_jpeg_quality)
    return buffer.getvalue(), np.asarray(image)


FaceCall = Callable[[dict[str, Any]], dict[str, Any]]


def local_face_call(settings: FaceSettings) -> FaceCall:
    """The face step in-process, exactly as the Lambda runs it."""
    preprocessor = FacePreprocessor(settings)
    return lambda event: face_response(preprocessor, event)


def lambda_face_call(function_name: str, timeout: float, client: Any = None) -> FaceCall:
    """The face step through the face Lambda (boto3 ``invoke``)."""
    if client is None:
        import boto3  # pylint: disable=import-outside-toplevel
        from botocore.config import Config  # pylint: disable=import-outside-toplevel

        client = boto3.client("lambda", config=Config(read_timeout=timeout, connect_timeout=5,
                                                      retries={"max_attempts": 1}))

    def call(event: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

        try:
            reply = client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        except (BotoCoreError, ClientError) as exc:
            raise FaceStepError(f"the face service did not answer ({type(exc).__name__})") from exc
        payload = json.loads(reply["Payload"].read() or b"{}")
        if reply.get("FunctionError"):
            raise FaceStepError(f"the face service failed: {payload.get('errorMessage', 'unknown error')}")
        return payload

    return call


class FaceStepError(FaceMoodError):
    """The face step (Lambda) failed or timed out."""


class ModelProvider:
    """The model named by ``models/latest.json``: pulled, verified, cached, and refreshed.

    Every ``refresh_seconds`` the pointer is re-read (one small GET); a new run id loads
    the new bundle, so a newly published model is served within that interval.
    """

    def __init__(self, uri: str, refresh_seconds: float, client: Any = None) -> None:
        self.uri, self.refresh_seconds, self.client = uri, refresh_seconds, client
        self._bundle: bundle.Bundle | None = None
        self._pointer: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> bundle.Bundle:
        """The current verified bundle; raises StorageError when none is published."""
        with self._lock:
            now = time.monotonic()
            if self._bundle is None or now - self._checked >= self.refresh_seconds:
                self._refresh()
                self._checked = now
            assert self._bundle is not None
            return self._bundle

    def _refresh(self) -> None:
        pointer = self._read_pointer()
        if self._bundle is not None and pointer == self._pointer:
            return
        loaded = bundle.load_bundle(self.uri, self.client)
        if self._bundle is not None and loaded.run_id != self._bundle.run_id:
            log.info("serving a newly published model", extra={"run_id": loaded.run_id})
        self._bundle, self._pointer = loaded, pointer

    def _read_pointer(self) -> str | None:
        """The raw latest.json (None for a plain bundle folder)."""
        if self.uri.rstrip("/").endswith(bundle.MODELS_PREFIX + "/" + bundle.LATEST_NAME):
            root = self.uri.rstrip("/")[: -len(bundle.MODELS_PREFIX + "/" + bundle.LATEST_NAME) - 1]
        else:
            root = self.uri
        try:
            latest = bundle.read_latest(root, self.client)
        except StorageError:
            return None
        return json.dumps(latest, sort_keys=True) if latest else None


@dataclass
class FaceResult:
    """One face's prediction."""

    face: Face
    probabilities: dict[str, float]
    top: str
    distress: bool


def is_distress(probabilities: dict[str, float], settings: DistressSettings) -> bool:
    """True when the top emotion is a distress emotion at or above the threshold."""
    top = max(probabilities, key=probabilities.get)
    return top in settings.emotions and probabilities[top] >= settings.threshold


def predict_faces(faces: list[Face], model: bundle.Bundle, distress: DistressSettings) -> list[FaceResult]:
    """Probabilities, top emotion and distress flag for each face."""
    if not faces:
        return []
    probs = model.predict_proba(np.stack([f.crop for f in faces]))
    results = []
    for face, row in zip(faces, probs):
        named = {name: float(p) for name, p in zip(EMOTIONS, row)}
        results.append(FaceResult(face, named, max(named, key=named.get), is_distress(named, distress)))
    return results


def analyse(photo: bytes, face_call: FaceCall, model: bundle.Bundle, settings: AppSettings
            ) -> tuple[np.ndarray, list[FaceResult]]:
    """Upload bytes -> (the photo as shown, one result per face, largest first).

    Raises InvalidImage for a bad upload and FaceStepError when the face step fails.
    """
    jpeg, shown = prepare_upload(photo, settings)
    response = face_call({"image": base64.b64encode(jpeg).decode()})
    if not response.get("ok"):
        raise InvalidImage(response.get("error", "the face service rejected the photo"))
    faces = [Face.from_json(item) for item in response.get("faces", [])]
    return shown, predict_faces(faces, model, settings.distress)
