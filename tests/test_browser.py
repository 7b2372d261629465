"""A real browser: serve the app, pass the notice, upload photos in headless Chromium, on a
laptop and on a phone; the reading (and on distress, the help) is on the first screen."""

from __future__ import annotations

import time

import numpy as np
import pytest

from facemood import bundle
from facemood.app_settings import LOCAL_FACE_STEP, load_app_settings
from facemood.checkin import read_faces
from facemood.config import ENV, REPO_ROOT
from facemood.faces import FacePreprocessor
from local_stack.app_process import start_app
from local_stack.s3_server import free_port
from tests.browser import (
    LAPTOP,
    PHONE,
    accessibility_violations,
    chromium_page,
    in_first_viewport,
    tab_to,
    upload_and_read_emotion,
)
from tests.photos import encode_jpeg, make_photo

IMAGES = REPO_ROOT / "images"


def clear_photo(fer2013, label: int, wanted: str) -> bytes:
    """A photo of the first PublicTest face of ``label`` that the shipped model reads clearly as
    ``wanted`` (for "sad": with distress), so the test does not hang on one face's reading."""
    settings = load_app_settings()
    model = bundle.load_bundle(str(REPO_ROOT))
    preprocessor = FacePreprocessor(settings.faces)
    for index in np.flatnonzero((fer2013["usage"] == "PublicTest") & (fer2013["emotion"] == label))[:50]:
        photo, _ = make_photo(np.random.default_rng(8), [fer2013["pixels"][index]], (640, 480))
        data = encode_jpeg(photo)
        found = read_faces(preprocessor(data).faces, model, settings.distress, settings.clarity)
        if len(found) == 1 and found[0].clear and found[0].top == wanted and (wanted != "sad" or found[0].flagged):
            return data
    raise AssertionError(f"none of the first 50 PublicTest {wanted} faces reads clearly as {wanted}")


def two_faces_photo(fer2013) -> bytes:
    """A photo of two PublicTest sad faces, both found, at least one read with distress."""
    settings = load_app_settings()
    model = bundle.load_bundle(str(REPO_ROOT))
    preprocessor = FacePreprocessor(settings.faces)
    sad = np.flatnonzero((fer2013["usage"] == "PublicTest") & (fer2013["emotion"] == 4))
    for first, second in zip(sad[:40:2], sad[1:40:2]):
        photo, _ = make_photo(np.random.default_rng(1), [fer2013["pixels"][first], fer2013["pixels"][second]],
                              (800, 480))
        data = encode_jpeg(photo)
        found = read_faces(preprocessor(data).faces, model, settings.distress, settings.clarity)
        if len(found) == 2 and any(face.flagged for face in found):
            return data
    raise AssertionError("no pair of the first 40 PublicTest sad faces reads as two faces with distress")


@pytest.mark.slow
def test_a_student_sees_the_reading_and_help_on_the_first_screen(fer2013, tmp_path, update_screenshots):
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    photos = {kind: tmp_path / f"{kind}.jpg" for kind in ("reading", "distress", "two-faces")}
    for path, (label, wanted) in zip(photos.values(), ((3, "happy"), (4, "sad"))):
        path.write_bytes(clear_photo(fer2013, label, wanted))
    photos["two-faces"].write_bytes(two_faces_photo(fer2013))
    # the shipped model store (models/latest.json), the committed config, the face step in-process
    app = start_app(free_port(), {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP},
                    tmp_path / "app.log")
    try:
        app.wait_ready()
        for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            with chromium_page(viewport) as page:
                for kind, path in photos.items():
                    # on the laptop, the notice is passed with the keyboard alone
                    heading = upload_and_read_emotion(page, app.url, str(path), keyboard=name == "laptop")
                    assert heading.removeprefix("Face 1: ").startswith(("Looks mostly ", "Hard to read: maybe "))
                    assert "%" in heading
                    page.evaluate("window.scrollTo(0, 0)")
                    assert in_first_viewport(page, page.locator("h2").filter(has_text="%").first), (name, kind)
                    assert "never stored" in page.content()
                    help_links = page.locator("[data-testid=stAlert] a[href='tel:988']")
                    assert in_first_viewport(page, page.locator("a[href='tel:988']").first), name  # talk line
                    if kind in ("distress", "two-faces"):  # distress under config/app.yaml's rule
                        assert heading.startswith("Looks mostly sad" if kind == "distress" else "Face 1: "), heading
                        assert in_first_viewport(page, help_links.first), name
                        assert page.locator("[data-testid=stAlert] a[href='tel:911']").count() == 1
                        if name == "laptop":  # the help is reachable with Tab, in order, from the top
                            page.locator("body").focus()
                            assert tab_to(page, "el => el.getAttribute('href') === 'tel:988'"), "help not reachable"
                    else:
                        assert help_links.count() == 0, heading
                    assert accessibility_violations(page) == [], (name, kind)  # axe-core: contrast, alt text...
                    if kind == "two-faces":  # each reading shows its face beside its number
                        assert page.get_by_role("img", name="Face 2", exact=True).count() == 1
                        continue
                    shot = IMAGES / f"app-{name}-{kind}.png" if update_screenshots else tmp_path / f"{name}.png"
                    page.screenshot(path=str(shot))
                    assert shot.read_bytes().startswith(b"\x89PNG")
    finally:
        app.stop()


@pytest.mark.slow
def test_photos_uploaded_a_moment_apart_all_get_answers(fer2013, tmp_path):
    """A student re-uploading the same two photos 40 times, 0.3 s apart, once killed the page with "Cached
    ForwardMsg MISS" (app/.streamlit/config.toml, [global]); now the last upload is answered and
    the page goes on answering."""
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    happy, sad = tmp_path / "happy.jpg", tmp_path / "sad.jpg"
    happy.write_bytes(clear_photo(fer2013, 3, "happy"))
    sad.write_bytes(clear_photo(fer2013, 4, "sad"))
    app = start_app(free_port(), {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP},
                    tmp_path / "app.log")
    try:
        app.wait_ready()
        with chromium_page() as page:
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            upload_and_read_emotion(page, app.url, str(happy))
            upload = page.locator("input[type=file]")
            for index in range(40):  # happy, sad, happy, ... each 0.3 s after the last; sad is last
                upload.set_input_files(str(sad if index % 2 else happy))
                time.sleep(0.3)
            page.locator("h2").filter(has_text="Looks mostly sad").wait_for(timeout=60_000)
            upload.set_input_files(str(happy))  # ... and the page still answers
            page.locator("h2").filter(has_text="Looks mostly happy").wait_for(timeout=60_000)
            assert page.get_by_text("Connection error").count() == 0
            assert not [line for line in console if "ForwardMsg" in line], console
    finally:
        app.stop()


@pytest.mark.slow
def test_the_notice_is_asked_once_per_browser_session(tmp_path):
    """Accepted once, the notice is not asked again on a reload; a new browser session asks again."""
    app = start_app(free_port(), {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP},
                    tmp_path / "app.log")
    try:
        app.wait_ready()
        for _ in range(2):  # each chromium_page is a new browser session
            with chromium_page(PHONE) as page:
                page.goto(app.url, wait_until="domcontentloaded")
                page.get_by_role("button", name="I understand, continue").click(timeout=60_000)
                page.get_by_text("Upload or take a photo of your face").wait_for(timeout=60_000)
                time.sleep(1)  # the page remembers the answer as it redraws
                page.reload(wait_until="domcontentloaded")
                page.get_by_text("Upload or take a photo of your face").wait_for(timeout=60_000)
                assert page.get_by_role("button", name="I understand, continue").count() == 0
                [notice] = [c for c in page.context.cookies() if c["name"] == "facemood_notice"]
                assert notice["value"] == "accepted" and notice["expires"] == -1  # a session cookie, no identity
    finally:
        app.stop()


@pytest.mark.slow
def test_the_page_speaks_the_browsers_language_and_switches(fer2013, tmp_path, update_screenshots):
    """A browser that asks for Spanish gets the whole page in Spanish (the notice, the reading, the
    help with its Spanish resource, the document's language); the switch turns it into Chinese and
    the choice holds for the browser session; help stays on the first screen at both sizes."""
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    sad = tmp_path / "sad.jpg"
    sad.write_bytes(clear_photo(fer2013, 4, "sad"))
    app = start_app(free_port(), {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP},
                    tmp_path / "app.log")
    try:
        app.wait_ready()
        for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            with chromium_page(viewport, locale="es-MX") as page:
                page.goto(app.url, wait_until="domcontentloaded")
                page.get_by_role("heading", name="¿Cómo te sientes?").wait_for(timeout=60_000)
                notice = page.get_by_text("Antes de empezar.")  # the page streams its elements: wait for it
                notice.wait_for(timeout=60_000)
                assert notice.count() == 1
                page.get_by_role("button", name="Entendido, continuar").click(timeout=60_000)
                page.get_by_text("Sube o haz una foto de tu cara").wait_for(timeout=60_000)
                page.locator("input[type=file]").set_input_files(str(sad))
                heading = page.locator("h2").filter(has_text="Sobre todo tristeza")
                heading.wait_for(timeout=90_000)
                page.get_by_text("Sobre esta lectura").wait_for(timeout=60_000)
                assert page.evaluate("document.documentElement.lang") == "es"
                help_box = page.locator("[data-testid=stAlert]").filter(has_text="momento difícil")
                assert in_first_viewport(page, help_box.locator("a[href='tel:988']")), name
                assert help_box.get_by_text("llamar al 988").count() == 1
                assert help_box.locator("a[href='https://988lifeline.org/es/']").count() == 1  # its Spanish page
                assert "Si estás en peligro ahora mismo" in help_box.inner_text()
                assert page.get_by_text("Looks mostly").count() == 0 and page.get_by_text("Need to talk").count() == 0
                assert accessibility_violations(page) == [], name
                if name == "phone":
                    shot = IMAGES / "app-phone-es.png" if update_screenshots else tmp_path / "es.png"
                    page.screenshot(path=str(shot))
                page.get_by_text("中文（简体）").click()
                page.locator("h2").filter(has_text="看起来主要是难过").wait_for(timeout=60_000)
                assert page.evaluate("document.documentElement.lang") == "zh"
                assert page.get_by_role("heading", name="你感觉怎么样？").count() == 1
                page.evaluate("document.querySelectorAll('*').forEach(el => { el.scrollTop = 0; })")  # switch: last
                assert in_first_viewport(page, page.locator("[data-testid=stAlert] a[href='tel:988']").first), name
                [chosen] = [c for c in page.context.cookies() if c["name"] == "facemood_language"]
                assert chosen["value"] == "zh" and chosen["expires"] == -1  # a session cookie: the language only
                page.reload(wait_until="domcontentloaded")  # the choice holds for the browser session
                page.get_by_role("heading", name="你感觉怎么样？").wait_for(timeout=60_000)
                page.get_by_text("English", exact=True).click()
                page.get_by_role("heading", name="How are you feeling?").wait_for(timeout=60_000)
    finally:
        app.stop()
