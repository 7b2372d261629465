"""The face step through the face Lambda: a timeout and a failed function get plain words."""

from __future__ import annotations

import base64
import io
import json

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from facemood.errors import FaceStepError, InvalidImage
from facemood.face_steps import LambdaFaceStep, lambda_client
from tests.faults import silent_port
from tests.photos import encode_jpeg

PHOTO = encode_jpeg(np.full((120, 160, 3), 128, np.uint8))


def step(client, payload_limit: int = 6 * 1024 * 1024, shrink=lambda photo: photo) -> LambdaFaceStep:
    """The Lambda face step on ``client``."""
    return LambdaFaceStep("facemood-face", client, payload_limit, shrink)


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
    failing = step(stubbed({"errorMessage": "Runtime exited with error: signal: killed",
                            "errorType": "Runtime.ExitError"}, "Unhandled"))
    with pytest.raises(FaceStepError, match="^the face service failed: Runtime exited with error: signal: killed$"):
        failing(PHOTO)


def test_a_refused_photo_is_an_invalid_image_and_a_reply_carries_faces_found():
    with pytest.raises(InvalidImage, match="^the photo is damaged or truncated$"):
        step(stubbed({"ok": False, "error": "the photo is damaged or truncated"}))(PHOTO)
    reading = step(stubbed({"ok": True, "image_size": [160, 120], "faces": [], "faces_found": 0,
                            "message": "no face found"}))(PHOTO)
    assert not reading.faces and reading.found == 0 and reading.image_size == (160, 120)


def test_a_face_lambda_that_never_answers_times_out(monkeypatch):
    with silent_port() as silent:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        said = r"^the face service did not answer \(AWS did not answer in time; try again shortly\)$"
        with pytest.raises(FaceStepError, match=said):
            step(lambda_client(timeout=1.0))(PHOTO)
        assert silent.connections == 1  # no retry: a student waits one timeout, not two


def test_only_a_photo_too_large_for_the_payload_is_re_encoded():
    sent = []
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    client.meta.events.register("provide-client-params.lambda.Invoke",
                                lambda params, **_: sent.append(json.loads(params["Payload"])["image"]))
    reply = json.dumps({"ok": True, "image_size": [160, 120], "faces": [], "faces_found": 0}).encode()
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(reply), len(reply))})
        step(client, payload_limit=len(PHOTO) * 2, shrink=lambda photo: b"small")(PHOTO)
        step(client, payload_limit=len(PHOTO), shrink=lambda photo: b"small")(PHOTO)
    assert [base64.b64decode(image) for image in sent] == [PHOTO, b"small"]


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"[1, 2]",
                                  json.dumps({"ok": True, "faces": [{"box": [1, 2], "crop_png": "x"}]}).encode()])
def test_a_malformed_reply_is_a_face_step_error(body):
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))})
        with pytest.raises(FaceStepError, match="^the face service sent a (reply that is not JSON|malformed reply)"):
            step(client)(PHOTO)
