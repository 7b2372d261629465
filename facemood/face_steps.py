"""The face step as the app calls it: in-process, or through the face Lambda.

Both are a :data:`facemood.checkin.FaceStep`: the uploaded photo's bytes in, its faces out,
through the one preprocessing path :class:`facemood.faces.FacePreprocessor` (which
``facemood predict`` runs too), so every caller reads the same crops from the same file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import queue
from collections.abc import Callable
from typing import Any

import numpy as np

from facemood.aws import aws_client, aws_errors, aws_reason
from facemood.errors import FaceStepError, InvalidImage
from facemood.faces import Face, FacePreprocessor, FaceSettings, FoundFaces


class InProcessFaceStep:
    """The face step in this process, shared by every session of the app. ``workers``
    detectors serve that many photos at once; a call waits for a free one (OpenCV's networks
    must not run two calls at once)."""

    def __init__(self, settings: FaceSettings, workers: int | None = None) -> None:
        count = workers or len(os.sched_getaffinity(0))
        self._idle: queue.Queue[FacePreprocessor] = queue.Queue()
        for _ in range(count):
            self._idle.put(FacePreprocessor(settings))

    def __call__(self, photo: bytes) -> FoundFaces:
        """The faces of the photo; raises InvalidImage for a file that is not a usable photo."""
        preprocessor = self._idle.get()
        try:
            return preprocessor(photo)
        finally:
            self._idle.put(preprocessor)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB array."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def lambda_client(timeout: float) -> Any:
    """A boto3 Lambda client that waits ``timeout`` seconds for a reply and does not retry (a
    student is waiting: the page says so rather than trying again behind their back)."""
    return aws_client("lambda", read_timeout_s=timeout, max_attempts=1)


class LambdaFaceStep:
    """The face step through the face Lambda (``invoke``): the photo travels base64-encoded,
    as uploaded; only a photo too large for Lambda's payload is downscaled and re-encoded
    (``shrink``: bytes -> smaller JPEG bytes)."""

    def __init__(self, function_name: str, client: Any, payload_limit: int, shrink: Callable[[bytes], bytes]
                 ) -> None:
        self.function_name, self.client = function_name, client
        self.payload_limit, self.shrink = payload_limit, shrink

    def __call__(self, photo: bytes) -> FoundFaces:
        """Faces of the photo; raises InvalidImage when the Lambda refuses it, FaceStepError
        when it fails or does not answer."""
        if base64_size(len(photo)) > self.payload_limit:
            photo = self.shrink(photo)
        event = {"image": base64.b64encode(photo).decode()}
        try:
            reply = self.client.invoke(FunctionName=self.function_name, Payload=json.dumps(event).encode())
        except aws_errors() as exc:
            raise FaceStepError(f"the face service did not answer ({aws_reason(exc, message=False)})") from exc
        try:
            payload = json.loads(reply["Payload"].read() or b"{}")
            if not isinstance(payload, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as exc:
            raise FaceStepError(f"the face service sent a reply that is not JSON ({exc})") from exc
        if reply.get("FunctionError"):
            raise FaceStepError(f"the face service failed: {payload.get('errorMessage', 'unknown error')}")
        if not payload.get("ok"):
            raise InvalidImage(str(payload.get("error", "the face service rejected the photo")),
                               str(payload.get("kind", "unreadable")))
        try:
            faces = [Face.from_json(item) for item in payload.get("faces", [])]
            size = payload.get("image_size") or [0, 0]
            return FoundFaces(faces, int(payload.get("faces_found", len(faces))), (int(size[0]), int(size[1])))
        except (KeyError, TypeError, ValueError, OSError) as exc:  # OSError: a crop that is not a PNG
            raise FaceStepError(f"the face service sent a malformed reply ({type(exc).__name__})") from exc


def base64_size(length: int) -> int:
    """Bytes of the base64 text of ``length`` bytes."""
    return 4 * ((length + 2) // 3)
