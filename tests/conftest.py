"""Shared fixtures: a real moto S3 server on a free loopback port, real FER2013 faces."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from facemood import storage
from facemood.local import point_environment_at, start_s3_server

REPO = Path(__file__).resolve().parent.parent
FER2013 = Path(os.environ.get("FACEMOOD_FER2013", REPO.parent / "shared" / "data" / "fer2013.npz"))
EVENTS = Path(__file__).parent / "events"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 (any free port); boto3 reaches it over HTTP."""
    server = start_s3_server(port=0)
    point_environment_at(server.endpoint)
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server):
    """A boto3 client on the moto server, which starts each test empty."""
    s3_server.reset()
    return storage.s3_client(endpoint_url=s3_server.endpoint)


@pytest.fixture(scope="session")
def fer2013():
    """The real FER2013 arrays (Training + PublicTest); skips when the data is absent."""
    if not FER2013.exists():
        pytest.skip(f"real FER2013 data not found at {FER2013} (see ../shared/data/README.md)")
    with np.load(FER2013, allow_pickle=False) as archive:
        return {name: archive[name] for name in ("pixels", "emotion", "usage")}


@pytest.fixture(scope="session")
def real_faces(fer2013):
    """A fixed, stratified-enough slice: 300 Training and 100 PublicTest faces."""
    rng = np.random.default_rng(7)
    train = rng.choice(np.flatnonzero(fer2013["usage"] == "Training"), 300, replace=False)
    test = rng.choice(np.flatnonzero(fer2013["usage"] == "PublicTest"), 100, replace=False)
    index = np.concatenate([np.sort(train), np.sort(test)])
    return {k: v[index] for k, v in fer2013.items()}


def load_event(name: str, **replacements: str) -> dict:
    """Load a JSON event fixture from tests/events, substituting ``{{placeholders}}``."""
    text = (EVENTS / name).read_text()
    for key, value in replacements.items():
        text = text.replace("{{" + key + "}}", value)
    return json.loads(text)


def csv_text(labels, pixels, usage=None, header="emotion,pixels,Usage") -> str:
    """A FER2013 CSV built the slow, obvious way (the reference the fast writer must match)."""
    lines = [header]
    for i, label in enumerate(labels):
        row = [str(int(label)), " ".join(str(int(v)) for v in np.asarray(pixels[i]).ravel())]
        if usage is not None:
            row.append(str(usage[i]))
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"
