"""A real browser: serve the app, pass the notice, upload a photo in headless Chromium, on a
laptop and on a phone; the reading (and on distress, the help) is on the first screen."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from facemood import bundle
from facemood.app_settings import LOCAL_FACE_STEP
from facemood.checkin import ADJECTIVES
from facemood.config import CONFIG_DIR, ENV, REPO_ROOT
from facemood.local.app_process import start_app
from tests.browser import LAPTOP, PHONE, chromium_page, free_port, in_first_viewport, upload_and_read_emotion
from tests.photos import encode_jpeg, make_photo

IMAGES = REPO_ROOT / "images"


@pytest.mark.slow
@pytest.mark.parametrize("distress", [False, True], ids=["clear reading", "distress"])
def test_a_student_sees_the_reading_and_help_on_the_first_screen(fer2013, tmp_path, update_screenshots, distress):
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model` (see README)")
    label = 4 if distress else 3  # a sad face, a happy face
    index = np.flatnonzero((fer2013["usage"] == "PublicTest") & (fer2013["emotion"] == label))[7]
    photo, _ = make_photo(np.random.default_rng(8), [fer2013["pixels"][index]], (640, 480))
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(encode_jpeg(photo))
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    if distress:  # every reading counts as distress, so the help must show
        settings = yaml.safe_load((config / "app.yaml").read_text())
        settings["distress"] = {"emotions": list(ADJECTIVES), "threshold": 0.0}
        (config / "app.yaml").write_text(yaml.safe_dump(settings))
    # the shipped model store (models/latest.json) and the face step in-process
    app = start_app(free_port(), {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP,
                                  ENV.CONFIG_DIR: str(config)}, tmp_path / "app.log")
    try:
        app.wait_ready()
        for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            with chromium_page(viewport) as page:
                heading = upload_and_read_emotion(page, app.url, str(photo_path))
                assert heading.startswith(("Looks mostly ", "Hard to read: maybe ")) and "%" in heading
                page.evaluate("window.scrollTo(0, 0)")
                assert in_first_viewport(page, page.locator("h3").filter(has_text="%").first), name
                assert "never stored" in page.content()
                if distress:
                    lifeline = page.locator("a[href='tel:988']").first
                    assert in_first_viewport(page, lifeline), name
                    assert page.locator("a[href='tel:911']").count() >= 1
                kind = "distress" if distress else "reading"
                shot = IMAGES / f"app-{name}-{kind}.png" if update_screenshots else tmp_path / f"{name}.png"
                page.screenshot(path=str(shot), full_page=False)
                assert shot.read_bytes().startswith(b"\x89PNG")
    finally:
        app.stop()
