"""A real browser: serve the app, upload a photo in headless Chromium, read the emotion."""

from __future__ import annotations

import numpy as np
import pytest

from facemood import bundle
from facemood.app_settings import LOCAL_FACE_STEP
from facemood.config import ENV, REPO_ROOT
from facemood.emotions import EMOTIONS
from facemood.local.app_process import start_app
from tests.browser import chromium_page, free_port, upload_and_read_emotion
from tests.photos import encode_jpeg, make_photo

SCREENSHOT = REPO_ROOT / "images" / "app-screenshot.png"


@pytest.mark.slow
def test_a_student_uploads_a_photo_and_sees_the_emotion(fer2013, tmp_path, update_screenshots):
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model` (see README)")
    happy = np.flatnonzero((fer2013["usage"] == "PublicTest") & (fer2013["emotion"] == 3))[7]
    photo, _ = make_photo(np.random.default_rng(8), [fer2013["pixels"][happy]], (640, 480))
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(encode_jpeg(photo))
    port = free_port()
    # the shipped model store (models/latest.json) and the face step in-process
    app = start_app(port, {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP}, tmp_path / "app.log")
    try:
        url = app.url
        app.wait_ready()
        with chromium_page() as page:
            heading = upload_and_read_emotion(page, url, str(photo_path))
            assert heading.split(" (")[0].lower() in EMOTIONS
            assert "never stored" in page.content()
            screenshot = SCREENSHOT if update_screenshots else tmp_path / SCREENSHOT.name
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.read_bytes().startswith(b"\x89PNG")
    finally:
        app.stop()
