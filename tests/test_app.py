"""The Streamlit page, driven headlessly with AppTest: every state a student can meet."""

from __future__ import annotations

import json
import re
import shutil
import threading

import numpy as np
import pytest
import yaml
from PIL import Image

from facemood import bundle
from facemood.i18n import ENGLISH, expression_names
from facemood.model_cache import REFRESH_THREAD
from tests.apptest import CONFIG, texts, upload
from tests.photos import encode, encode_jpeg, faceless_sample


def test_the_notice_comes_before_the_first_photo(app):
    test = app(consented=False)
    assert not test.exception
    notice = " ".join(texts(test, "markdown"))
    assert "Before you start" in notice and "not a diagnosis" in notice and "never stored" in notice
    assert not test.get("file_uploader")
    test.button(key="consent").click().run()
    assert test.get("file_uploader") and "Upload or take a photo of your face to check in." in texts(test, "markdown")


def test_first_view_invites_a_photo_and_says_photos_are_not_stored(app):
    test = app()
    assert not test.exception
    assert "Upload or take a photo of your face to check in." in texts(test, "markdown")
    assert any("never stored" in c for c in texts(test, "markdown"))
    assert test.toggle(key="use_camera").value is False


def test_one_face_shows_the_emotion_and_all_seven_probabilities(app, photos, model_store):
    test = upload(app(), photos["one"])
    headers = texts(test, "header")
    assert len(headers) == 1 and any(f" {word} (" in headers[0] for word in expression_names(ENGLISH).values()), headers
    assert headers[0].startswith(("Looks mostly ", "Hard to read: maybe "))
    charts_drawn = test.get("vega_lite_chart")
    assert len(charts_drawn) == 2  # the probabilities and the session history
    # their values travel in the spec's JSON, never through pandas and Arrow (CPU on every run)
    assert all(not chart.proto.data.data and '"values"' in chart.proto.spec for chart in charts_drawn)
    in_words = [c for c in texts(test, "markdown") if "In words: " in c]  # the chart as text
    assert len(in_words) == 1 and all(f"{word} " in in_words[0] for word in expression_names(ENGLISH).values())
    assert any(f"Model {model_store[1][0]}" in c for c in texts(test, "caption"))
    assert any("never stored" in c for c in texts(test, "markdown"))
    assert texts(test, "error") == [] and texts(test, "warning") == []


def test_two_faces_are_each_shown(app, photos):
    test = upload(app(), photos["two"])
    assert "2 faces found; each is shown below, largest first." in texts(test, "markdown")
    headers = texts(test, "header")
    assert [h.split(":")[0] for h in headers] == ["Face 1", "Face 2"]


def test_no_face_says_so(app, photos):
    test = upload(app(), photos["none"])
    assert texts(test, "warning") == ["No face found. Try a well-lit photo where your face is clearly visible "
                                      "and faces the camera."]
    assert texts(test, "header") == []


def test_a_cats_face_is_no_face_and_no_check_in(app):
    test = upload(app(), encode_jpeg(faceless_sample("chelsea")), "cat.jpg")
    assert texts(test, "warning") == ["No face found. Try a well-lit photo where your face is clearly visible "
                                      "and faces the camera."]
    assert texts(test, "header") == [] and not test.get("vega_lite_chart")  # no reading, no history entry


def emf_lines(text: str) -> list[dict]:
    """The CloudWatch Embedded Metric Format lines in ``text``."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


CHECK_IN_METRICS = {"CheckIns": "Count", "FacesFound": "Count", "NoFace": "Count", "UnclearReadings": "Count",
                    "DistressShown": "Count", "FaceStepLatency": "Milliseconds", "ModelLatency": "Milliseconds"}


def test_a_check_in_writes_one_metrics_line_with_nothing_personal(app, photos, model_store, capsys):
    test = upload(app(), photos["one"])
    test.run()  # a rerun (any click) neither reads the photo again nor counts it again
    lines = emf_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    line = lines[0]
    definition = line["_aws"]["CloudWatchMetrics"][0]
    assert definition["Namespace"] == "FaceMood" and definition["Dimensions"] == [["ModelRunId", "service"]]
    assert {m["Name"]: m["Unit"] for m in definition["Metrics"]} == CHECK_IN_METRICS
    assert line["ModelRunId"] == model_store[1][0] and line["service"] == "app"
    assert line["CheckIns"] == [1.0] and line["FacesFound"] == [1.0] and line["NoFace"] == [0.0]
    assert 0 < line["FaceStepLatency"][0] < 10_000 and 0 < line["ModelLatency"][0] < 10_000
    # nothing but the metrics and their dimensions: no photo, no crop, no probabilities, no identity
    assert set(line) == set(CHECK_IN_METRICS) | {"_aws", "ModelRunId", "service"}


def test_no_face_and_errors_are_counted(app, photos, capsys):
    upload(app(), photos["none"])
    upload(app(), b"emotion,pixels\n1,2 3\n", "data.png", "image/png")
    no_face, error = emf_lines(capsys.readouterr().err)
    assert no_face["NoFace"] == [1.0] and no_face["CheckIns"] == [1.0]
    assert error["ErrorKind"] == "InvalidImage" and error["Errors"] == [1.0]
    assert error["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["ErrorKind", "service"]]


def test_a_file_that_is_not_an_image_gets_a_clear_error(app):
    test = upload(app(), b"emotion,pixels\n1,2 3\n", "data.png", "image/png")
    errors = texts(test, "error")
    assert errors == ["That file can't be used: it is not a JPEG, PNG or WebP photo."]


def test_an_oversized_photo_gets_a_clear_error(app):
    test = upload(app(), encode(Image.new("L", (7000, 6000)), "PNG"), "huge.png", "image/png")
    assert texts(test, "error") == ["That file can't be used: the photo has more pixels than the limit of 40 "
                                    "megapixels. A photo from a phone's camera works."]


def test_distress_shows_the_counselling_resources_gently(app, photos):
    everything = {"emotions": list(bundle.EMOTIONS), "combine": "sum", "threshold": 0.0, "fallback_threshold": 0.0}
    test = upload(app(distress=everything), photos["one"])
    info = " ".join(texts(test, "info"))
    assert "988 Suicide & Crisis Lifeline" in info and "(tel:988)" in info and "(sms:988)" in info
    assert "(https://988lifeline.org)" in info and "[911](tel:911)" in info
    assert "Campus counselling service" not in info  # a placeholder is never shown to students
    assert info.index("help is one tap away") < info.index("988")


def test_no_distress_shows_no_resources(app, photos):
    never = {"emotions": ["sad"], "combine": "max", "threshold": 1.0, "fallback_threshold": 1.0}
    test = upload(app(distress=never), photos["one"])
    assert not any("988" in i for i in texts(test, "info"))


def test_no_published_model_is_explained(app, photos, tmp_path):
    empty = tmp_path / "empty-store"
    empty.mkdir()
    test = upload(app(model_uri=str(empty)), photos["one"])
    assert texts(test, "warning")[0] == "FaceMood can't read photos right now. Please try again in a little while."
    assert not any("facemood train" in t for kind in ("warning", "caption", "markdown") for t in texts(test, kind))
    assert texts(test, "header") == []


def test_a_newly_published_model_is_picked_up_without_a_restart(app, photos, model_store):
    root, runs = model_store
    test = upload(app(), photos["one"])
    assert any(f"Model {runs[0]}" in c for c in texts(test, "caption"))
    bundle.point_latest(str(root), runs[1])
    try:
        test.run()  # finds the refresh due: it runs in the background, this check-in is not held
        wait_for_refresh()
        test.run()
        assert any(f"Model {runs[1]}" in c for c in texts(test, "caption"))
    finally:
        bundle.point_latest(str(root), runs[0])


@pytest.mark.usefixtures("s3")  # the Lambda API on the moto server, which has no such function
def test_a_failing_face_lambda_gets_a_message_not_a_stack_trace(app, photos):
    test = upload(app(face_function="facemood-face-missing", face_timeout_seconds=2.0), photos["one"])
    errors = texts(test, "error")
    assert errors == ["Your photo couldn't be read just now. Please try again in a moment."]  # no operator text


def test_the_session_keeps_a_mood_history(app, photos):
    test = upload(app(), photos["one"])
    upload(test, photos["two"], "two.jpg")
    assert any("Your check-ins this session (2)" in c for c in texts(test, "markdown"))


def test_a_tampered_model_is_refused_with_a_message(app, photos, tmp_path, model_store, caplog):
    root, runs = model_store
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    model = copy / "models" / runs[0] / "model.onnx"
    model.write_bytes(model.read_bytes()[:-5] + b"xxxxx")
    with caplog.at_level("ERROR", logger="facemood.app"):
        test = upload(app(model_uri=str(copy)), photos["one"])
    assert texts(test, "warning")[0].startswith("FaceMood can't read photos right now")
    assert not any("sha256" in c for c in texts(test, "caption"))  # the details go to the log, not to students
    assert any("sha256" in getattr(r, "error", "") for r in caplog.records)


def test_a_broken_config_is_explained_not_a_stack_trace(app, caplog):
    with caplog.at_level("ERROR", logger="facemood.app"):
        test = app(consented=False, upload_max_side="big")
    assert not test.exception
    assert texts(test, "error")[0].startswith("FaceMood can't read photos right now")
    assert not texts(test, "caption")
    assert any("upload_max_side: expected int, got str 'big'" in getattr(r, "error", "") for r in caplog.records)


def test_a_broken_pointer_keeps_the_last_verified_model_serving(app, photos, model_store, caplog):
    root, runs = model_store
    test = upload(app(), photos["one"])
    assert any(f"Model {runs[0]}" in c for c in texts(test, "caption"))
    latest = root / "models" / "latest.json"
    saved = latest.read_text()
    missing = {"run_id": "gone", "bundle": "models/gone/", "manifest_sha256": "0" * 64}
    tampered = {**json.loads(saved), "run_id": runs[1], "bundle": f"models/{runs[1]}/"}  # the other manifest's hash
    try:
        for broken in ("{}", "[1, 2]", "{not json", json.dumps(missing), json.dumps(tampered)):
            latest.write_text(broken)
            caplog.clear()
            with caplog.at_level("WARNING", logger="facemood.model_cache"):
                test.run()
                wait_for_refresh()
            assert not test.exception
            assert any(f"Model {runs[0]}" in c for c in texts(test, "caption")), broken
            assert texts(test, "warning") == [] and len(texts(test, "header")) == 1
            warned = [r for r in caplog.records if r.name == "facemood.model_cache"]
            assert len(warned) == 1 and warned[0].serving == runs[0] and warned[0].error, broken
        bundle.point_latest(str(root), runs[1])  # fixed: the newly published model is served
        test.run()
        wait_for_refresh()
        test.run()
        assert any(f"Model {runs[1]}" in c for c in texts(test, "caption"))
    finally:
        latest.write_text(saved)


def wait_for_refresh() -> None:
    """Until the model cache's background refresh (if one runs) has finished."""
    for thread in [t for t in threading.enumerate() if t.name == REFRESH_THREAD]:
        thread.join(timeout=30)


def test_more_faces_than_the_cap_are_counted_on_the_page(app, photos):
    faces = {**yaml.safe_load((CONFIG / "app.yaml").read_text())["faces"], "max_faces": 1}
    test = upload(app(faces=faces), photos["two"])
    assert "2 faces found; showing the largest." in texts(test, "markdown")
    assert len(texts(test, "header")) == 1


def test_a_face_lambda_that_times_out_gets_a_message_and_the_page_keeps_serving(app, photos, monkeypatch):
    from tests.faults import silent_port

    with silent_port() as silent:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        test = upload(app(face_function="facemood-face", face_timeout_seconds=0.3), photos["one"])
        errors = texts(test, "error")
        assert errors == ["Your photo couldn't be read just now. Please try again in a moment."]
        test.run()  # the next request is served the same way, not with a stack trace
        assert not test.exception and len(texts(test, "error")) == 1


def test_an_unclear_reading_says_so(app, photos):
    test = upload(app(clarity={"clear_min_probability": 1.0, "clear_min_margin": 0.0}), photos["one"])
    headers = texts(test, "header")
    assert len(headers) == 1 and headers[0].startswith("Hard to read: maybe "), headers


def test_help_is_on_the_page_whatever_the_reading(app, photos):
    never = {"emotions": ["sad"], "combine": "max", "threshold": 1.0, "fallback_threshold": 1.0}
    test = upload(app(distress=never), photos["one"])
    assert [e.label for e in test.expander][0] == "Need to talk to someone?"
    talk = " ".join(texts(test, "markdown"))
    assert "(tel:988)" in talk and "[911](tel:911)" in talk


def test_a_configured_campus_resource_comes_first(app, photos):
    campus = {"name": "Student Wellbeing Centre", "phone": "+1-555-0100", "url": "https://wellbeing.example.edu",
              "note": "Walk in 9-5."}
    lifeline = yaml.safe_load((CONFIG / "app.yaml").read_text())["resources"][1]
    everything = {"emotions": list(bundle.EMOTIONS), "combine": "sum", "threshold": 0.0, "fallback_threshold": 0.0}
    test = upload(app(resources=[campus, lifeline], distress=everything),
                  photos["one"])
    info = " ".join(texts(test, "info"))
    assert "[call +1-555-0100](tel:+1-555-0100)" in info and info.index("Student Wellbeing") < info.index("988")


def element_order(test) -> list[tuple[str, str]]:
    """Every element of the page's main area, in the order a student reads them: (type, text)."""
    found = []

    def walk(node) -> None:
        children = getattr(node, "children", None)
        if children:
            for child in children.values():
                walk(child)
        else:
            found.append((type(node).__name__, str(getattr(node, "value", ""))))

    walk(test.main)
    return found


def test_with_several_faces_help_comes_before_their_readings(app, photos):
    everything = {"emotions": list(bundle.EMOTIONS), "combine": "sum", "threshold": 0.0, "fallback_threshold": 0.0}
    order = element_order(upload(app(distress=everything), photos["two"]))
    help_at = next(i for i, (kind, text) in enumerate(order) if kind == "Info" and "help is one tap away" in text)
    first_face = next(i for i, (kind, text) in enumerate(order) if kind == "Header" and text.startswith("Face 1"))
    assert help_at < first_face  # with five faces the help stays on the first screen
    one = element_order(upload(app(distress=everything), photos["one"]))
    header = next(i for i, (kind, _) in enumerate(one) if kind == "Header")
    assert header < next(i for i, (kind, text) in enumerate(one) if kind == "Info" and "help is" in text)


def test_about_this_reading_says_how_often_such_a_reading_is_right_from_the_manifest(app, photos, tmp_path):
    folder = tmp_path / "run-with-report"
    folder.mkdir()
    source = CONFIG.parent / bundle.read_latest(str(CONFIG.parent))["bundle"]
    shutil.copyfile(source / bundle.MODEL_NAME, folder / bundle.MODEL_NAME)
    (folder / bundle.MODEL_CARD_NAME).write_text("# FaceMood emotion model `run-with-report`\n")
    report = {"photos": 301, "persons": 212, "accuracy": 0.6634, "macro_f1": 0.53, "flag_precision": 0.7143,
              "flag_recall": 0.6061}
    root = tmp_path / "store"
    bundle.write_bundle(folder, str(root), "run-with-report", {"status": "accepted", "photo_report": report})
    bundle.point_latest(str(root), "run-with-report")
    test = upload(app(model_uri=str(root)), photos["one"])
    about = " ".join(texts(test.expander[-1], "markdown"))
    assert "On 301 photos of 212 people this model had never seen" in about and "66% of the time" in about
    assert "71% of the time" in about and "offered help for 61%" in about
    assert "not how you feel" in about
    card = test.get("download_button")[0]
    assert "model card" in card.proto.label
    spanish = upload(app(model_uri=str(root), languages=["es", "en", "zh"]), photos["one"])
    assert "nunca había visto" in " ".join(texts(spanish.expander[-1], "markdown"))


def test_the_upload_limit_is_said_in_the_students_language_and_a_larger_photo_is_refused_in_it(app):
    spanish = app(languages=["es", "en", "zh"])
    assert "Una foto JPEG, PNG o WebP, de hasta 20 MB." in texts(spanish, "markdown")
    limit_mb = int(re.search(r"maxUploadSize = (\d+)", (CONFIG.parent / "app" / ".streamlit" / "config.toml")
                             .read_text())[1])
    assert limit_mb > 20  # Streamlit lets a photo a little over the app's limit reach the app...
    big = b"\xff\xd8\xff" + bytes(21 * 2**20)  # 21 MiB
    refused = upload(spanish, big, "grande.jpg")
    said = texts(refused, "error")  # ...which says why, in the student's language
    assert any("20 MiB" in e and "Ese archivo no se puede usar" in e for e in said)


def test_the_flag_and_the_figures_agree_at_the_threshold(app, fer2013, model_store):
    """A face shown as 'X NN%' whose probability is a hair under NN% (0.545 shown as 55%): a rule at
    exactly NN% flags it, as the student reads it (the flag used to read the unrounded 0.545)."""
    from facemood.app_settings import load_app_settings
    from facemood.checkin import read_faces
    from facemood.distress import DistressPolicy, percent
    from facemood.faces import FacePreprocessor
    from tests.photos import make_photo

    root, _ = model_store
    model, faces = bundle.load_bundle(str(root)), FacePreprocessor(load_app_settings().faces)
    rng = np.random.default_rng(11)
    never = DistressPolicy(("sad",), "max", 1.0, 1.0)
    for index in np.flatnonzero(fer2013["usage"] == "Training")[:200]:
        photo = encode_jpeg(make_photo(rng, [fer2013["pixels"][index]], (640, 480))[0])
        found = faces(photo).faces
        if len(found) != 1:
            continue
        reading = read_faces(found, model, never)[0]
        raw = reading.probabilities[reading.top]
        if raw < percent(raw) / 100 and percent(raw) < 100:  # shown higher than it is
            break
    else:
        raise AssertionError("no face whose top percentage is rounded up")
    rule = {"emotions": [reading.top], "combine": "max", "threshold": percent(raw) / 100, "fallback_threshold": 1.0}
    test = upload(app(distress=rule), photo)
    assert f"({percent(raw)}%)" in texts(test, "header")[0]
    assert any("help is one tap away" in text for text in texts(test, "info"))


def test_a_rerun_leaves_the_import_path_and_the_shared_resources_as_they_were(app, photos):
    """Streamlit runs app.py again on every interaction: a run must not add to sys.path (it added
    the repository once per run) nor re-make what every session shares (its cached functions were
    re-wrapped, source read and all, on every run, when they lived in app.py)."""
    import sys

    test = app()
    shared = sys.modules["shared_resources"]  # app/shared_resources.py, imported by the page's first run
    before = (list(sys.path), shared.app_settings, shared.shared_face_step)
    for _ in range(3):
        test.run()
    upload(test, photos["one"], "me.jpg")
    assert (list(sys.path), shared.app_settings, shared.shared_face_step) == before
    assert sys.modules["shared_resources"] is shared
