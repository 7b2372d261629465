"""Shared fixtures: a real moto S3 server on a free loopback port, real FER2013 faces.

The real faces come from ``FACEMOOD_FER2013`` (Kaggle's ``fer2013.csv``, a ``.csv.gz`` of
it, or the ``.npz`` of ``../shared/data/``), else ``../shared/data/fer2013.npz``; they are
read once per test session. Tests that need them skip, saying how to enable them.
"""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import yaml
from streamlit.testing.v1 import AppTest

from facemood import bundle
from facemood.config import ENV, REPO_ROOT
from facemood.model_cache import REFRESH_THREAD
from local_stack.s3_server import local_environment, start_s3_server
from tests.apptest import APP, CONFIG
from tests.fer2013 import fer2013_path, load_fer2013
from tests.photos import encode_jpeg, make_photo

EVENTS = Path(__file__).parent / "events"
HOW_TO_ENABLE = (f"set {ENV.FER2013}=path/to/fer2013.csv (Kaggle's FER2013 CSV; .csv.gz or the .npz of "
                 "../shared/data also work) to run it")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-screenshots``: let the browser tests refresh the README's screenshots."""
    parser.addoption("--update-screenshots", action="store_true",
                     help="browser tests write the README's screenshots under images/")


@pytest.fixture(autouse=True)
def _no_model_refresh_outlives_its_test():
    """The model cache refreshes in a background thread: each test waits for the ones it began, so
    none logs into a later test's captured output."""
    yield
    for thread in [t for t in threading.enumerate() if t.name == REFRESH_THREAD]:
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def update_screenshots(request) -> bool:
    """True when the run was asked to refresh images/ (``--update-screenshots``)."""
    return bool(request.config.getoption("--update-screenshots"))


@pytest.fixture(scope="session")
def s3_server():
    """moto's server on 127.0.0.1 (any free port); boto3 reaches it over HTTP."""
    server = start_s3_server(port=0)
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A boto3 client on the moto server, which starts each test empty.

    For this test only, the environment points boto3 at the server with dummy credentials,
    so code that builds its own client (the CLI, the page) reaches it too.
    """
    s3_server.reset()
    for name, value in local_environment(s3_server.endpoint).items():
        monkeypatch.setenv(name, value)
    return s3_server.client()


@pytest.fixture(scope="session")
def fer2013():
    """The real FER2013 arrays: ``pixels`` (n,48,48) uint8, ``emotion`` and ``usage``."""
    path = fer2013_path()
    if not path.exists():
        pytest.skip(f"real FER2013 data not found at {path}: {HOW_TO_ENABLE}")
    return load_fer2013(path)


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


@pytest.fixture(scope="module")
def model_store(tmp_path_factory):
    """A local model store holding two published bundles of the shipped network; latest points at the first."""
    shipped = bundle.read_latest(str(REPO_ROOT))
    if shipped is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    root = tmp_path_factory.mktemp("models")
    runs = ["test-run-a", "test-run-b"]
    for run_id in runs:
        folder = tmp_path_factory.mktemp(run_id)
        shutil.copyfile(REPO_ROOT / shipped["bundle"] / bundle.MODEL_NAME, folder / bundle.MODEL_NAME)
        bundle.write_bundle(folder, str(root), run_id, {"status": "accepted"})
    bundle.point_latest(str(root), runs[0])
    return root, runs


@pytest.fixture(scope="module")
def photos(fer2013):
    """JPEG photos of Training faces: one face, two faces, none."""
    picked = fer2013["pixels"][np.flatnonzero(fer2013["usage"] == "Training")[::1009][:4]]
    rng = np.random.default_rng(4)
    one, _ = make_photo(rng, [picked[0]], (640, 480))
    two, _ = make_photo(rng, [picked[1], picked[2]], (800, 480))
    blank = np.full((480, 640, 3), 170, np.uint8)
    return {"one": encode_jpeg(one), "two": encode_jpeg(two), "none": encode_jpeg(blank)}


@pytest.fixture
def app(tmp_path, monkeypatch, model_store):
    """An AppTest factory with config/app.yaml overridden by ``changes`` (``user`` as st.user,
    ``secrets`` as st.secrets)."""
    root, _ = model_store

    def make(consented: bool = True, user: dict | None = None, secrets: dict | None = None, **changes) -> AppTest:
        settings = yaml.safe_load((CONFIG / "app.yaml").read_text())
        settings.update({"model_uri": str(root), "model_refresh_seconds": 0.0, **changes})
        config_dir = tmp_path / "config"
        config_dir.mkdir(exist_ok=True)
        (config_dir / "app.yaml").write_text(yaml.safe_dump(settings))
        monkeypatch.setenv("FACEMOOD_CONFIG_DIR", str(config_dir))
        st.cache_resource.clear()
        test = AppTest.from_file(APP, default_timeout=60)
        if user is not None:  # st.user: the identity Streamlit verified at sign-in
            test.user = user
        for name, value in (secrets or {}).items():  # st.secrets
            test.secrets[name] = value
        test.run()
        if consented and any(b.key == "consent" for b in test.get("button")):  # the student reads the notice
            test.button(key="consent").click().run()  # (unless their journal remembers they read it)
        return test

    return make
