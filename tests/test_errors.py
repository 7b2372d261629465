"""Domain errors: each failure raises its own class, never a bare built-in one."""

from __future__ import annotations

import ast
import threading

import numpy as np
import pytest

from facemood import bundle, storage
from facemood.config import REPO_ROOT
from facemood.errors import FaceMoodError, ModelInputError, StorageError
from facemood.model_cache import REFRESH_THREAD, ModelCache


@pytest.mark.parametrize("call", [
    lambda: storage.read_bytes("s3://bucket/key"),
    lambda: storage.write_bytes("s3://bucket/key", b"x"),
    lambda: storage.list_objects(None, storage.S3Location("bucket")),
])
def test_an_s3_uri_without_a_client_is_a_storage_error(call):
    with pytest.raises(StorageError, match="no S3 client was given"):
        call()


def shipped() -> bundle.Bundle:
    """The shipped model."""
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    return bundle.load_bundle(str(REPO_ROOT))


def test_faces_of_the_wrong_shape_are_a_model_input_error():
    model = shipped()
    with pytest.raises(ModelInputError, match=r"faces must be uint8 of shape \(n,48,48\); got float64"):
        model.predict_proba(np.zeros((2, 48, 48)))
    assert model.predict_proba(np.zeros((48, 48), np.uint8)).shape == (1, 7)


def test_no_core_module_raises_the_base_error_itself():
    for path in sorted((REPO_ROOT / "facemood").rglob("*.py")) + sorted((REPO_ROOT / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", None)
                assert name != FaceMoodError.__name__, f"{path.name}:{node.lineno} raises the base error"


def test_the_model_cache_reads_latest_json_once_per_refresh(s3):
    model = shipped()
    s3.create_bucket(Bucket="models")
    source = REPO_ROOT / bundle.read_latest(str(REPO_ROOT))["bundle"]
    for path in sorted(source.iterdir()):
        s3.upload_file(str(path), "models", f"models/{model.run_id}/{path.name}")
    bundle.point_latest("s3://models", model.run_id, s3)
    reads = []
    # botocore's own event hook on the real client: every GetObject's key, as the cache asks for it
    s3.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: reads.append(params["Key"]))
    cache = ModelCache("s3://models", refresh_seconds=0.0, client=s3)
    assert cache.current().run_id == model.run_id
    assert reads.count("models/latest.json") == 1  # resolved once; the bundle is loaded from that answer
    reads.clear()
    assert cache.current().run_id == model.run_id
    for refresh in [t for t in threading.enumerate() if t.name == REFRESH_THREAD]:  # it runs in the background
        refresh.join(timeout=30)
    assert reads == ["models/latest.json"]  # an unchanged pointer: nothing else is read
