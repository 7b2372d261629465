"""Every part of FaceMood words a failed AWS call one way (``facemood.aws.aws_reason``): the
storage, the journal, the secret store and the face Lambda's client each name what they were
reaching, never a bare exception class."""

from __future__ import annotations

import pytest

from facemood.aws import aws_client
from facemood.errors import FaceStepError, StorageError
from facemood.face_steps import LambdaFaceStep
from facemood.journal import Journal
from facemood.secret_store import read_secret
from facemood.storage import read_bytes

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port: the connection is refused


@pytest.fixture(autouse=True)
def one_attempt(monkeypatch):
    """One try each (a refused connection is retried otherwise), with dummy credentials."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def _failure(call) -> str:
    with pytest.raises((StorageError, FaceStepError)) as caught:
        call()
    return str(caught.value)


def test_an_unreachable_endpoint_is_worded_the_same_way_everywhere():
    said = {
        "storage": _failure(lambda: read_bytes("s3://models/latest.json", aws_client("s3", endpoint_url=CLOSED))),
        "journal": _failure(lambda: list(Journal("journal", aws_client("dynamodb", endpoint_url=CLOSED), 30)
                                         .entries("pseudonym"))),
        "secret": _failure(lambda: read_secret(aws_client("secretsmanager", endpoint_url=CLOSED), "pepper")),
        "face step": _failure(lambda: LambdaFaceStep("faces", aws_client("lambda", endpoint_url=CLOSED), 6_000_000,
                                                     bytes)(b"photo")),
    }
    for part, message in said.items():
        assert f"cannot reach {CLOSED}" in message or f"at {CLOSED}" in message, (part, message)
        assert "EndpointConnectionError" not in message, (part, message)
    assert said["storage"].startswith("cannot reach s3://models/latest.json at http://127.0.0.1:9")
    assert "pseudonym" not in said["journal"]  # the journal names its table, never a student's key
