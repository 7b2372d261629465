"""The face step as the app calls it: in-process on arrays, or through the face Lambda.

Both are a :data:`facemood.checkin.FaceStep`: an upright RGB photo in, its faces out.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np

from facemood.checkin import FaceStep
from facemood.errors import FaceStepError, InvalidImage
from facemood.faces import Face, FacePreprocessor, FaceSettings


def in_process_face_step(settings: FaceSettings) -> FaceStep:
    """The face step in this process: the photo's array goes straight to the detector."""
    return FacePreprocessor(settings).faces_in_array


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

    return boto3.client("lambda", config=Config(read_timeout=timeout, connect_timeout=5,
                                                retries={"max_attempts": 1}))


class LambdaFaceStep:
    """The face step through the face Lambda (``invoke``): the photo travels as a base64 JPEG."""

    def __init__(self, function_name: str, client: Any, jpeg_quality: int) -> None:
        self.function_name, self.client, self.jpeg_quality = function_name, client, jpeg_quality

    def __call__(self, rgb: np.ndarray) -> list[Face]:
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
        return [Face.from_json(item) for item in payload.get("faces", [])]
