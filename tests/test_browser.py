"""A real browser: serve the app, upload a photo in headless Chromium, read the emotion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facemood import bundle
from facemood.demo import start_app, wait_for_app
from facemood.emotions import EMOTIONS
from tests.browser import chromium_page, free_port, upload_and_read_emotion
from tests.photos import encode_jpeg, make_photo

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "images" / "app-screenshot.png"


@pytest.mark.slow
def test_a_student_uploads_a_photo_and_sees_the_emotion(fer2013, tmp_path, monkeypatch):
    if bundle.read_latest(str(REPO)) is None:
        pytest.skip("no shipped model under models/ (see README: make model)")
    happy = np.flatnonzero((fer2013["usage"] == "PublicTest") & (fer2013["emotion"] == 3))[7]
    photo, _ = make_photo(np.random.default_rng(8), [fer2013["pixels"][happy]], (640, 480))
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(encode_jpeg(photo))
    port = free_port()
    monkeypatch.setenv("FACEMOOD_MODEL_URI", str(REPO))  # the shipped model store: models/latest.json
    monkeypatch.setenv("FACEMOOD_FACE_FUNCTION", "local")
    app = start_app(port)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_app(url, app)
        with chromium_page() as page:
            heading = upload_and_read_emotion(page, url, str(photo_path))
            assert heading.split(" (")[0].lower() in EMOTIONS
            assert "never stored" in page.content()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        app.terminate()
        app.wait(timeout=10)
