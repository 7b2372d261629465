"""The face step through the face Lambda: a timeout and a failed function get plain words."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import io
import json

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from facemood.errors import FaceStepError, InvalidImage
from facemood.face_step import LambdaFaceStep, lambda_client
from tests.faults import silent_port

PHOTO = np.full((120, 160, 3), 128, np.uint8)


def stubbed(payload: dict, function_error: str | None = None):
    """A Lambda client whose next invoke answers ``payload`` (moto runs no function code)."""
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    body = json.dumps(payload).encode()
    stub = Stubber(client)
    stub.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body)),
                                 **({"FunctionError": function_error} if function_error else {})})
    stub.activate()
    return client


def test_a_function_error_is_a_face_step_error_in_plain_words():
    step = LambdaFaceStep("facemood-face", stubbed({"errorMessage": "Runtime exited with error: signal: killed",
                                                    "errorType": "Runtime.ExitError"}, "Unhandled"), 90)
    with pytest.raises(FaceStepError, match="^the face service failed: Runtime exited with error: signal: killed$"):
        step(PHOTO)


def test_a_refused_photo_is_an_invalid_image_and_a_reply_carries_faces_found():
    with pytest.raises(InvalidImage, match="^the photo is damaged or truncated$"):
        LambdaFaceStep("f", stubbed({"ok": False, "error": "the photo is damaged or truncated"}), 90)(PHOTO)
    reading = LambdaFaceStep("f", stubbed({"ok": True, "image_size": [160, 120], "faces": [], "faces_found": 0,
                                           "message": "no face found"}), 90)(PHOTO)
    assert not reading.faces and reading.found == 0 and reading.image_size == (160, 120)


def test_a_face_lambda_that_never_answers_times_out(monkeypatch):
    with silent_port() as silent:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        step = LambdaFaceStep("facemood-face", lambda_client(timeout=1.0), 90)
        with pytest.raises(FaceStepError, match=r"^the face service did not answer \(ReadTimeoutError\)$"):
            step(PHOTO)
        assert silent.connections == 1  # no retry: a student waits one timeout, not two
