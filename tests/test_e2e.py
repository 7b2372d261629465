"""The whole chain on one machine, as `facemood demo --data` runs it: CSV upload, S3 event,
augmentation, refined output, one-epoch training against the served shipped model (kept: the
new run is worse), the app in Chromium, then a deliberate promotion."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import yaml

from cli import demo_run as demo
from cli.wiring import Retrainer, augment_handler
from facemood import bundle, registry
from facemood.config import REPO_ROOT
from local_stack.app_process import start_app
from local_stack.s3_server import free_port
from local_stack.stack import LocalStack, load_stack_settings
from tests.browser import chromium_page, served_model, upload_and_read_emotion
from tests.conftest import csv_text
from tests.photos import encode_jpeg, make_photo
from tests.test_training import TINY


def e2e_pipeline() -> str:
    """The default network for one epoch of 10 batches, no gate: the tests' tiny config with those changes
    (the chain and the real architecture are exercised; a full epoch would add nothing but time)."""
    config = yaml.safe_load(TINY)
    del config["model"]
    config["training"].update(epochs=1, batch_size=128, bf16=True, max_batches_per_epoch=10)
    return yaml.safe_dump(config)


@pytest.mark.slow
def test_the_whole_chain_on_2000_real_faces(fer2013, tmp_path, s3_server):
    s3_server.reset()  # moto's backends live in this process: start without other tests' buckets
    rng = np.random.default_rng(21)
    train = rng.choice(np.flatnonzero(fer2013["usage"] == "Training"), 1700, replace=False)
    test = rng.choice(np.flatnonzero(fer2013["usage"] == "PublicTest"), 300, replace=False)
    index = np.concatenate([train, test])
    data = tmp_path / "fer2013-slice.csv"
    data.write_text(csv_text(fer2013["emotion"][index], fer2013["pixels"][index], fer2013["usage"][index]))
    config = tmp_path / "pipeline-e2e.yaml"
    config.write_text(e2e_pipeline())
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    shipped = bundle.read_latest(str(REPO_ROOT))["run_id"]
    settings = replace(load_stack_settings(), port=0, app_port=free_port(), seed_store=str(REPO_ROOT),
                       relay_interval_seconds=0.2)
    messages: list[str] = []
    retrainer = Retrainer(settings.buckets, str(config), messages.append)
    stack = LocalStack(settings, augment_handler(settings.buckets), on_refined_report=retrainer)
    app = None
    try:
        environment = dict(os.environ)
        stack.start()
        assert dict(os.environ) == environment  # the stack's parts get its client, not this process's env
        refined = demo.upload_and_augment(stack, data, messages.append)
        assert refined.startswith("s3://facemood-refined/refined/uploads/fer2013-slice.")
        summary = demo.wait_for_training(retrainer, timeout=600)  # started by the refined report, as on AWS
        # one epoch of ten batches cannot match the shipped model: kept, rejected, and said plainly
        assert summary["status"] == "rejected" and summary["champion"]["served_run_id"] == shipped
        said = " ".join(messages)
        assert f"your model reached {summary['validation']['accuracy']:.1%}" in said
        assert f"`facemood models promote {summary['run_id']}` would serve yours anyway" in said
        assert bundle.load_bundle("s3://facemood-models", stack.client).run_id == shipped
        assert any("rows in s3://facemood-refined/" in m for m in messages)
        photo, _ = make_photo(rng, [fer2013["pixels"][test[0]]], (640, 480))
        photo_path = tmp_path / "photo.jpg"
        photo_path.write_bytes(encode_jpeg(photo))
        url = f"http://127.0.0.1:{settings.app_port}"
        app = start_app(settings.app_port, stack.environment(), tmp_path / "app.log")
        app.wait_ready()
        with chromium_page() as page:
            heading = upload_and_read_emotion(page, url, str(photo_path))
            assert heading.startswith(("Looks mostly ", "Hard to read: maybe "))
            assert served_model(page) == f"Model {shipped}."  # the page keeps serving the better model
        registry.promote("s3://facemood-models", summary["run_id"], "test", client=stack.client)
        served = bundle.load_bundle("s3://facemood-models", stack.client)
        assert served.run_id == summary["run_id"] and served.manifest.section("data")["train_rows"] == 1700 * 4
    finally:
        if app is not None:
            app.stop()
        stack.stop()
