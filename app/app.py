"""FaceMood's page: "How are you feeling?" A photo in; the emotion, its probabilities
and, on distress, where to get help out. Photos stay in memory and are never stored."""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import replace
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# pylint: disable=wrong-import-position
from facemood import storage  # noqa: E402
from facemood.app_settings import LOCAL_FACE_STEP, AppSettings, load_app_settings  # noqa: E402
from facemood.checkin import FaceResult, FaceStep, check_in, shrink_upload  # noqa: E402
from facemood.emotions import EMOTIONS  # noqa: E402
from facemood.errors import BundleIntegrityError, ConfigError, FaceStepError, InvalidImage, StorageError  # noqa: E402
from facemood.face_step import InProcessFaceStep, LambdaFaceStep, lambda_client  # noqa: E402
from facemood.model_cache import ModelCache  # noqa: E402

PRIVACY = "Your photo is processed in memory to read the expression and is never stored."
NOT_A_DIAGNOSIS = ("FaceMood reads facial expressions; it cannot know how you feel, and this is not a "
                   "diagnosis.")


@st.cache_resource
def app_settings() -> AppSettings:
    """config/app.yaml, read once per process."""
    return load_app_settings()


@st.cache_resource
def model_cache(uri: str, refresh_seconds: float) -> ModelCache:
    """One model cache per process; it re-checks latest.json every refresh_seconds."""
    return ModelCache(uri, refresh_seconds, storage.s3_client())


@st.cache_resource
def face_step(_settings: AppSettings) -> FaceStep:
    """The face step, shared by every session: in-process locally, the face Lambda on AWS."""
    if _settings.face_function == LOCAL_FACE_STEP:
        return InProcessFaceStep(replace(_settings.faces, max_request_bytes=_settings.upload_max_bytes))
    return LambdaFaceStep(_settings.face_function, lambda_client(_settings.face_timeout_seconds),
                          _settings.faces.max_request_bytes, lambda photo: shrink_upload(photo, _settings))


def photo_ui() -> bytes | None:
    """The photo: uploaded, or taken with the camera."""
    use_camera = st.toggle("Use my camera", key="use_camera")
    if use_camera:
        shot = st.camera_input("Take a photo", key="camera")
        return shot.getvalue() if shot else None
    upload = st.file_uploader("Upload a photo of a face", type=["jpg", "jpeg", "png", "webp"], key="upload")
    return upload.getvalue() if upload else None


def boxes_ui(photo, results) -> None:
    """The photo with each face's box and number."""
    from PIL import Image, ImageDraw  # pylint: disable=import-outside-toplevel

    image = Image.fromarray(photo).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, image.width // 200)
    for number, result in enumerate(results, start=1):
        x, y, w, h = result.face.box
        draw.rectangle([x, y, x + w, y + h], outline=(59, 125, 140), width=width)
        draw.text((x + width, y + width), str(number), fill=(255, 255, 255))
    st.image(image, caption="Faces found", width="stretch")


def face_ui(number: int, result: FaceResult, total: int) -> None:
    """One face: its crop, the emotion and all seven probabilities."""
    import pandas as pd  # pylint: disable=import-outside-toplevel

    left, right = st.columns([1, 3])
    with left:
        st.image(result.face.crop, caption=f"Face {number}" if total > 1 else "The face the model read", width=120)
    with right:
        confidence = result.probabilities[result.top]
        st.subheader(f"{'Face ' + str(number) + ': ' if total > 1 else ''}{result.top.capitalize()} "
                     f"({confidence:.0%})")
        chart = pd.DataFrame({"emotion": list(EMOTIONS), "probability": [result.probabilities[e] for e in EMOTIONS]})
        st.bar_chart(chart, x="emotion", y="probability", height=220, sort=False)


def distress_ui(settings: AppSettings) -> None:
    """Counselling resources, offered gently."""
    lines = [f"- **{r.name}**: {r.contact}" + (f" — {r.note}" if r.note else "") for r in settings.resources]
    st.info("It looks like this might be a hard moment. If you would like to talk to someone, help is "
            "here:\n\n" + "\n".join(lines) + f"\n\n_{NOT_A_DIAGNOSIS}_", icon="💙")


def history_ui() -> None:
    """This browser session's check-ins as a small chart."""
    import pandas as pd  # pylint: disable=import-outside-toplevel

    history = st.session_state.get("history", [])
    if not history:
        return
    st.divider()
    st.caption(f"Your check-ins this session ({len(history)}); kept only in this browser session")
    frame = pd.DataFrame([
        {"check-in": str(i), "emotion": entry["top"], "confidence": entry["probabilities"][entry["top"]]}
        for i, entry in enumerate(history, start=1)])
    st.bar_chart(frame, x="check-in", y="confidence", color="emotion", height=200, sort=False)


def remember(photo: bytes, result: FaceResult) -> None:
    """Add a check-in once per photo (Streamlit reruns the script on every interaction)."""
    digest = hashlib.sha256(photo).hexdigest()
    history = st.session_state.setdefault("history", [])
    if not history or history[-1]["photo"] != digest:
        history.append({"photo": digest, "time": time.time(), "top": result.top,
                        "probabilities": result.probabilities})


def main() -> None:
    """The page."""
    st.set_page_config(page_title="FaceMood — How are you feeling?", page_icon="🙂")
    st.title("How are you feeling?")
    st.caption(PRIVACY)
    try:
        settings = app_settings()
    except ConfigError as exc:
        st.error("FaceMood is not configured correctly, so it can't read photos right now. "
                 "Please tell the service's administrators.")
        st.caption(f"Details: {exc}")
        return
    photo = photo_ui()
    if photo is None:
        st.write("Upload or take a photo of your face to check in.")
        history_ui()
        return
    try:
        model = model_cache(settings.model_uri, settings.model_refresh_seconds).current()
    except (StorageError, BundleIntegrityError) as exc:
        st.warning("No emotion model is available yet, so a prediction can't be made. "
                   "Publish one with `facemood train` (or seed the model bucket) and try again.")
        st.caption(f"Details: {exc}")
        return
    try:
        with st.spinner("Reading the expression..."):
            reading = check_in(photo, face_step(settings), model, settings)
    except InvalidImage as exc:
        st.error(f"That file can't be used: {exc}")
        return
    except FaceStepError as exc:
        st.error(f"The face service is not answering right now ({exc}). Please try again in a moment.")
        return
    results = reading.results
    if not results:
        st.warning("No face found. Try a well-lit photo where your face is clearly visible and faces the camera.")
        return
    if reading.faces_found > len(results):
        st.info(f"{reading.faces_found} faces found; showing the {len(results)} largest.")
    elif len(results) > 1:
        st.info(f"{len(results)} faces found; each is shown below, largest first.")
    boxes_ui(reading.photo, results)
    for number, result in enumerate(results, start=1):
        face_ui(number, result, len(results))
    if any(r.distress for r in results):
        distress_ui(settings)
    st.caption(f"{NOT_A_DIAGNOSIS} Model {model.run_id}.")
    remember(photo, results[0])
    history_ui()


main()
