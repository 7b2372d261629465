"""The face step as the app calls it: in-process on arrays, or through the face Lambda.

Both are a :data:`facemood.checkin.FaceStep`: an upright RGB photo in, its faces out.
"""

from __future__ import annotations

import base64
import io
import json
import os
import queue
from typing import Any

import numpy as np

from facemood.config import aws_region
from facemood.errors import FaceStepError, InvalidImage
from facemood.faces import Face, FacePreprocessor, FaceReading, FaceSettings


class InProcessFaceStep:
    """The face step in this process, shared by every session of the app: the photo's array
    goes straight to a detector. ``workers`` detectors serve that many photos at once; a
    call waits for a free one (OpenCV's networks must not run two calls at once)."""

    def __init__(self, settings: FaceSettings, workers: int | None = None) -> None:
        count = workers or len(os.sched_getaffinity(0))
        self._idle: queue.Queue[FacePreprocessor] = queue.Queue()
        for _ in range(count):
            self._idle.put(FacePreprocessor(settings))

    def __call__(self, rgb: np.ndarray) -> FaceReading:
        """The faces of ``rgb``."""
        preprocessor = self._idle.get()
        try:
            return preprocessor.read_array(rgb)
        finally:
            self._idle.put(preprocessor)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB array."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def lambda_client(timeout: float) -> Any:
    """A boto3 Lambda client that waits ``timeout`` seconds for a reply and does not retry."""
    import boto3  # pylint: disable=import-outside-toplevel
    from botocore.config import Config  # pylint: disable=import-outside-toplevel

    return boto3.session.Session().client(
        "lambda", region_name=aws_region(),
        config=Config(read_timeout=timeout, connect_timeout=5, retries={"total_max_attempts": 1}))


class LambdaFaceStep:
    """The face step through the face Lambda (``invoke``): the photo travels as a base64 JPEG."""

    def __init__(self, function_name: str, client: Any, jpeg_quality: int) -> None:
        self.function_name, self.client, self.jpeg_quality = function_name, client, jpeg_quality

    def __call__(self, rgb: np.ndarray) -> FaceReading:
        """Faces of ``rgb``; raises InvalidImage when the Lambda refuses the photo, FaceStepError
        when it fails or does not answer."""
        from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

        event = {"image": base64.b64encode(encode_jpeg(rgb, self.jpeg_quality)).decode()}
        try:
            reply = self.client.invoke(FunctionName=self.function_name, Payload=json.dumps(event).encode())
        except (BotoCoreError, ClientError) as exc:
            raise FaceStepError(f"the face service did not answer ({type(exc).__name__})") from exc
        payload = json.loads(reply["Payload"].read() or b"{}")
        if reply.get("FunctionError"):
            raise FaceStepError(f"the face service failed: {payload.get('errorMessage', 'unknown error')}")
        if not payload.get("ok"):
            raise InvalidImage(payload.get("error", "the face service rejected the photo"))
        faces = [Face.from_json(item) for item in payload.get("faces", [])]
        return FaceReading(faces, int(payload.get("faces_found", len(faces))), (rgb.shape[1], rgb.shape[0]))
