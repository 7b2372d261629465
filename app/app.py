"""FaceMood's page: "How are you feeling?" A photo in; first the reading in plain words and,
on distress, where to get help; then the probabilities and the photo. Photos stay in memory
and are never stored."""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from pathlib import Path

import streamlit as st

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # Streamlit runs this file again on every interaction
    sys.path.insert(0, ROOT)

# pylint: disable=wrong-import-position
from journal_ui import (  # noqa: E402  # app/journal_ui.py: Streamlit puts the page's folder on the path
    Student,
    journal_entries,
    journal_switch_ui,
    journal_ui,
    keep,
    notice_read_before,
    proactive_ui,
    remember_notice_read,
    sign_in_ui,
)
from page_language import (  # noqa: E402
    _,
    choose_language,
    current_language,
    document_language_script,
    language_switch_ui,
    ngettext,
    words,
)
from shared_resources import app_settings, model_cache, shared_face_step  # noqa: E402

from facemood import charts, telemetry  # noqa: E402
from facemood.app_settings import AppSettings, Resource  # noqa: E402
from facemood.checkin import CheckIn, FaceReading, check_in  # noqa: E402
from facemood.distress import percent  # noqa: E402
from facemood.errors import BundleIntegrityError, ConfigError, FaceStepError, InvalidImage, StorageError  # noqa: E402
from facemood.i18n import catalogue_languages, expression_names  # noqa: E402

log = logging.getLogger("facemood.app")
PHOTO_WIDTH = 420  # CSS pixels the photo is shown at; it is sent at twice that, sharp on a phone
NOTICE_COOKIE = "facemood_notice"  # "accepted": the notice was read in this browser session (no identity)
REMEMBER_NOTICE = (f"<script>document.cookie = '{NOTICE_COOKIE}=accepted; path=/; SameSite=Strict'"
                   " + (location.protocol === 'https:' ? '; Secure' : '');</script>")
# Streamlit leaves about 100 px blank above the title and sets it large: on a phone that pushes the
# reading and the help below the first screen. Less room above, a smaller title on a narrow screen.
COMPACT_TOP = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 1rem; }
  h1 { font-size: 1.9rem !important; padding-top: 0.5rem !important; }
  h2 { font-size: 1.35rem !important; }
}
/* Streamlit's own "NN MB per file" line under the uploader is in English whatever the page's
   language, and names its transport limit, not the app's: the caption under it says the limit. */
[data-testid="stFileUploaderDropzoneInstructions"] small { display: none; }
</style>"""


def consent_ui(student: Student | None) -> bool:
    """The notice shown before the first photo; True once the student has read it and continued:
    in this browser session (a session cookie that says only that: a reload does not ask again)
    or, signed in with the journal on, on any earlier visit (the journal keeps that choice)."""
    if (st.session_state.get("consented") or st.context.cookies.get(NOTICE_COOKIE) == "accepted"
            or notice_read_before(student)):
        st.session_state["consented"] = True
        if st.session_state.pop("remember_notice", False):
            st.html(REMEMBER_NOTICE, unsafe_allow_javascript=True)
        return True
    st.markdown(_("**Before you start.** FaceMood looks at a photo of a face and estimates which expression it "
                  "shows (angry, disgusted, fearful, happy, sad, surprised or neutral). It cannot know how you "
                  "feel, it can be wrong, and it is not a diagnosis. Your photo is read in memory and never "
                  "stored. If the reading suggests a hard moment, the page shows where to find someone to talk "
                  "to."))
    if st.button(_("I understand, continue"), key="consent", type="primary"):
        st.session_state["consented"] = st.session_state["remember_notice"] = True
        remember_notice_read(student)
        st.rerun()
    return False


def photo_ui(settings: AppSettings) -> bytes | None:
    """The photo: uploaded, or taken with the camera. The upload limit is said in the student's
    language (Streamlit's own lets files up to app/.streamlit/config.toml's maxUploadSize through,
    above the app's, so a photo over the app's limit gets the app's own refusal, not a tooltip)."""
    use_camera = st.toggle(_("Use my camera"), key="use_camera")
    if use_camera:
        shot = st.camera_input(_("Take a photo"), key="camera")
        return shot.getvalue() if shot else None
    upload = st.file_uploader(_("Upload a photo of a face"), type=["jpg", "jpeg", "png", "webp"], key="upload")
    if upload is None:  # said before a photo is chosen; once one is, the reading needs the room (a refusal says it)
        limit = f"{settings.upload_max_bytes / 2**20:g}"
        st.markdown(_("A JPEG, PNG or WebP photo, up to {limit} MB.").format(limit=limit))
    return upload.getvalue() if upload else None


def resources(settings: AppSettings) -> tuple[Resource, ...]:
    """The resources students can be shown, in the session's language."""
    return settings.usable_resources(current_language())


def call_link(phone: str) -> str:
    """A tel: link that says what it does."""
    words_of_link = _("call {phone}").format(phone=phone)
    return f"[{words_of_link}](tel:{phone})"


def text_link(number: str) -> str:
    """An sms: link that says what it does."""
    words_of_link = _("text {number}").format(number=number)
    return f"[{words_of_link}](sms:{number})"


def resource_lines(settings: AppSettings) -> str:
    """The usable resources as Markdown, each way to reach them a link."""
    def links(resource: Resource) -> str:
        ways = ([call_link(resource.phone)] if resource.phone else []) + (
            [text_link(resource.sms)] if resource.sms else []) + (
            [f"[{resource.url.removeprefix('https://')}]({resource.url})"] if resource.url else [])
        return f"- **{resource.name}**: " + " · ".join(ways) + (f" — {resource.note}" if resource.note else "")

    emergency = settings.emergency_in(current_language()).replace(
        settings.emergency_phone, f"[{settings.emergency_phone}](tel:{settings.emergency_phone})", 1)
    return "\n".join(links(r) for r in resources(settings)) + f"\n\n{emergency}"


def distress_help_ui(settings: AppSettings) -> None:
    """Counselling resources, offered gently and prominently."""
    st.info(_("It looks like this might be a hard moment. If you would like to talk to someone, help is one "
              "tap away:") + "\n\n" + resource_lines(settings))


def resources_at_end_ui(settings: AppSettings) -> None:
    """A quiet way to the resources, on the page whatever the reading."""
    with st.expander(_("Need to talk to someone?")):
        st.markdown(resource_lines(settings))


def resources_at_top_ui(settings: AppSettings) -> None:
    """One short line near the top, whatever the state: the first resource's first way to reach it
    (the full list is at the end of the page)."""
    shown = resources(settings)
    if not shown:
        return
    first = shown[0]
    way = (call_link(first.phone) if first.phone else text_link(first.sms) if first.sms else
           f"[{first.name}]({first.url})")
    st.markdown(_("Need to talk to someone? {name}: {way} · more at the end of the page").format(
        name=first.name, way=way))


def count_ui(this_check_in: CheckIn) -> None:
    """How many faces were found and read, when more than one."""
    readings = this_check_in.readings
    if this_check_in.faces_found > len(readings):
        st.markdown(ngettext("{found} faces found; showing the largest.", "{found} faces found; showing the "
                             "{shown} largest.", len(readings)).format(found=this_check_in.faces_found,
                                                                       shown=len(readings)))
    elif len(readings) > 1:
        st.markdown(_("{count} faces found; each is shown below, largest first.").format(count=len(readings)))


def readings_ui(this_check_in: CheckIn) -> None:
    """Each face's reading in plain words."""
    readings = this_check_in.readings
    for number, reading in enumerate(readings, start=1):
        sentence = reading.sentence(words())
        st.header(_("Face {number}: {reading}").format(number=number, reading=sentence) if len(readings) > 1
                  else sentence, anchor=False)


def chart_ui(number: int, reading: FaceReading, total: int) -> None:
    """One face's seven probabilities: percentages on the bars, a fixed colour per emotion, a text
    equivalent; with several faces, the face itself beside its number, so each reading shows whose it is."""
    from PIL import Image

    if total > 1:
        face, title = st.columns([1, 5], vertical_alignment="center")
        with face:
            image_ui(Image.fromarray(reading.face.crop), _("Face {number}").format(number=number), 64, caption=False)
        with title:
            line = _("Face {number}: {reading}").format(number=number, reading=reading.sentence(words()))
            st.markdown(f"**{line}**")
    st.vega_lite_chart(charts.probability_bars(reading.probabilities, words=words()), width="stretch")
    names = expression_names(words())
    st.markdown(_("The bars show how strongly the face matches each expression, as the model reads it; they add "
                  "up to 100%. In words: {percentages}.").format(
        percentages=_(", ").join(_("{expression} {percent}%").format(expression=names[e], percent=percent(p))
                                 for e, p in reading.ranked())))


def photo_ui_with_boxes(this_check_in: CheckIn) -> None:
    """The photo, smaller, with each face's box and number, and the crops the model read."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(this_check_in.photo).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, image.width // 200)
    font = ImageFont.load_default(size=max(16, image.width // 25))
    for number, reading in enumerate(this_check_in.readings, start=1):
        x, y, w, h = reading.face.box
        draw.rectangle([x, y, x + w, y + h], outline=(59, 125, 140), width=width)
        draw.text((x + 2 * width, y + width), str(number), fill=(255, 255, 255), font=font,
                  stroke_width=max(1, width // 2), stroke_fill=(0, 0, 0))
    left, right = st.columns([3, 1])
    with left:
        image_ui(image, ngettext("Your photo, with a numbered box around the face read",
                                 "Your photo, with a numbered box around each of the {count} faces read",
                                 len(this_check_in.readings)).format(count=len(this_check_in.readings)), PHOTO_WIDTH)
    if len(this_check_in.readings) == 1:  # several faces: each crop is beside its reading already
        with right:
            image_ui(Image.fromarray(this_check_in.readings[0].face.crop),
                     _("The face as the model saw it: 48 by 48 pixels, grey"), 96)


def image_ui(image, alt: str, width: int, caption: bool = True) -> None:
    """An image with alternative text and (unless not ``caption``) a visible caption (st.image sets
    no alt text). The image goes to this student's browser only, inline; nothing is stored."""
    import base64
    import html
    import io

    if image.width > 2 * width:  # twice the shown width is sharp on a phone; more is CPU and bytes for nothing
        image = image.copy()
        image.thumbnail((2 * width, 2 * width))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if image.mode == "L" else "JPEG", quality=85)
    kind = "png" if image.mode == "L" else "jpeg"
    source = f"data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode()}"
    shown = f'<figcaption style="font-size:0.85rem">{html.escape(alt)}</figcaption>' if caption else ""
    st.markdown(f'<figure style="margin:0"><img src="{source}" alt="{html.escape(alt)}" '
                f'style="width:{width}px;max-width:100%">{shown}</figure>', unsafe_allow_html=True)


def history_ui(settings: AppSettings, student: Student | None) -> None:
    """The signed-in student's journal; otherwise this browser session's check-ins on a time
    axis, one marker each, coloured by emotion."""
    if student is not None and (st.session_state.get("journal_on") or journal_entries(student, settings)):
        try:
            journal_ui(student, settings, journal_entries(student, settings))
        except StorageError as exc:
            telemetry.record_error(settings.metrics_namespace, "JournalError")
            log.warning("the journal cannot be reached", extra={"error": str(exc)})
            st.warning(_("Your check-in journal can't be reached right now. Please try again later."))
        return
    history = st.session_state.get("history", [])
    if not history:
        return
    st.divider()
    st.markdown(_("Your check-ins this session ({count}); kept only in this browser session").format(
        count=len(history)))
    points = [(entry["time"], entry["top"], entry["probabilities"][entry["top"]], entry.get("clear", True))
              for entry in history]
    st.vega_lite_chart(charts.timeline(points, time_format=_("%H:%M"), words=words()), width="stretch")


def check_in_once(photo: bytes, model, settings: AppSettings, keeper: Student | None = None) -> CheckIn:
    """The check-in of this upload with this model, computed once: Streamlit reruns the script on
    every interaction (opening "About this reading" too), and each run would read the photo again,
    count it again in the metrics and keep it again in the journal (given ``keeper``)."""
    key = (hashlib.sha256(photo).hexdigest(), model.run_id)
    last = st.session_state.get("last_check_in")
    if last is not None and last[0] == key:
        return last[1]
    with st.spinner(_("Reading the expression...")):
        this_check_in = check_in(photo, shared_face_step(settings), model, settings, 2 * PHOTO_WIDTH)
    telemetry.record_check_in(settings.metrics_namespace, this_check_in, model.run_id)
    st.session_state["last_check_in"] = (key, this_check_in)
    if keeper is not None and this_check_in.readings:
        try:
            keep(keeper, this_check_in)
        except StorageError as exc:
            telemetry.record_error(settings.metrics_namespace, "JournalError")
            log.warning("a check-in could not be kept in the journal", extra={"error": str(exc)})
            st.warning(_("This check-in could not be kept in your journal just now; the reading below is not "
                         "affected."))
    return this_check_in


def remember(photo: bytes, reading: FaceReading) -> None:
    """Add a check-in once per photo (Streamlit reruns the script on every interaction)."""
    digest = hashlib.sha256(photo).hexdigest()
    history = st.session_state.setdefault("history", [])
    if not history or history[-1]["photo"] != digest:
        history.append({"photo": digest, "time": time.time(), "top": reading.top,
                        "probabilities": reading.probabilities, "clear": reading.clear})


def page_top() -> AppSettings | None:
    """The page's top: title, privacy line and (with the settings read) the short way to help;
    None when the config cannot be read (the student is told, the log says why)."""
    try:
        settings = app_settings()
    except ConfigError as exc:
        log.error("the app's config cannot be read", extra={"error": str(exc)})
        settings = None
    choose_language(settings.languages if settings else None)
    st.set_page_config(page_title=_("FaceMood — How are you feeling?"), page_icon="🙂")
    st.html(COMPACT_TOP + document_language_script(), unsafe_allow_javascript=True)
    st.title(_("How are you feeling?"))
    st.markdown(_("Your photo is processed in memory to read the expression and is never stored."))
    if settings is None:
        st.error(_("FaceMood can't read photos right now. Please try again later; if it goes on, tell the "
                   "student services team."))
        return None
    resources_at_top_ui(settings)
    return settings


def student_ui(settings: AppSettings) -> tuple[bool, Student | None]:
    """With sign-in on: sign-in, the journal's entries and the proactive note. (go on, the
    signed-in student whose journal can be reached, or None)."""
    if not settings.signs_in:
        return True, None
    student, entries = None, []
    try:
        student = sign_in_ui(settings)
        entries = journal_entries(student, settings) if student else []
    except StorageError as exc:
        telemetry.record_error(settings.metrics_namespace, "JournalError")
        log.warning("the journal cannot be reached", extra={"error": str(exc)})
        st.warning(_("Your check-in journal can't be reached right now; you can still check in, but this "
                     "check-in won't be kept."))
        student, entries = None, []
        if not st.user.is_logged_in:
            return False, None
    if student is None and not st.user.is_logged_in:
        resources_at_end_ui(settings)
        return False, None
    proactive_ui(settings, entries, resource_lines(settings))
    return True, student


def served_model(settings: AppSettings):
    """The model to read with, or None after telling the student (and the log and metrics) why not."""
    try:
        return model_cache(settings.model_uri, settings.model_refresh_seconds).current()
    except (StorageError, BundleIntegrityError) as exc:
        telemetry.record_error(settings.metrics_namespace, "ModelUnavailable")
        log.error("no model can be served", extra={"error": str(exc), "model_uri": settings.model_uri})
        st.warning(_("FaceMood can't read photos right now. Please try again in a little while."))
        return None


def refusal(error: InvalidImage, settings: AppSettings) -> str:
    """Why an upload cannot be used, in the student's language, with what to do instead."""
    limit = f"{settings.upload_max_bytes / 2**20:g}"
    reasons = {
        "empty": _("the file is empty."),
        "too_big": _("the photo is larger than {limit} MiB. Please choose a smaller photo.").format(limit=limit),
        "too_many_pixels": _("the photo has more pixels than the limit of {megapixels} megapixels. A photo from "
                             "a phone's camera works.").format(megapixels=f"{settings.faces.max_megapixels:g}"),
        "not_a_photo": _("it is not a JPEG, PNG or WebP photo."),
        "damaged": _("the photo is damaged or incomplete. Please try another one."),
        "unreadable_face": _("the face could not be read in it (it may be too dark). Please try another photo in "
                             "better light."),
    }
    reason = reasons.get(error.kind, _("it could not be read as a photo. Please try another one."))
    return _("That file can't be used: {reason}").format(reason=reason)


def check_in_or_none(photo: bytes, model, settings: AppSettings, keeper: Student | None) -> CheckIn | None:
    """The check-in of ``photo``, or None after telling the student why it could not be read."""
    try:
        this_check_in = check_in_once(photo, model, settings, keeper)
    except InvalidImage as exc:
        telemetry.record_error(settings.metrics_namespace, type(exc).__name__)
        log.info("an upload was refused", extra={"error": str(exc), "kind": exc.kind})
        st.error(refusal(exc, settings))
        return None
    except FaceStepError as exc:
        telemetry.record_error(settings.metrics_namespace, type(exc).__name__)
        log.error("the face step failed", extra={"error": str(exc)})
        st.error(_("Your photo couldn't be read just now. Please try again in a moment."))
        return None
    if not this_check_in.readings:
        st.warning(_("No face found. Try a well-lit photo where your face is clearly visible and faces the "
                     "camera."))
        return None
    return this_check_in


def check_in_ui(this_check_in: CheckIn, settings: AppSettings) -> None:
    """The answer first, the help right under it on distress, then each face's details and the
    photo. With several faces and one of them flagged, the help comes before the faces' readings:
    however many there are, it stays on the first screen."""
    count_ui(this_check_in)
    flagged = this_check_in.flagged
    several = len(this_check_in.readings) > 1
    if flagged and several:
        distress_help_ui(settings)
    readings_ui(this_check_in)
    if flagged and not several:
        distress_help_ui(settings)
    for number, reading in enumerate(this_check_in.readings, start=1):
        chart_ui(number, reading, len(this_check_in.readings))
    photo_ui_with_boxes(this_check_in)


def page_body(settings: AppSettings) -> None:
    """Sign-in, notice, photo, reading, history; the way to help always at the end."""
    go_on, student = student_ui(settings)
    if not go_on:
        return
    if not consent_ui(student):
        resources_at_end_ui(settings)
        return
    keeping = student is not None and journal_switch_ui(student, settings)
    photo = photo_ui(settings)
    if photo is None:
        st.write(_("Upload or take a photo of your face to check in."))
        history_ui(settings, student)
        resources_at_end_ui(settings)
        return
    model = served_model(settings)
    this_check_in = model and check_in_or_none(photo, model, settings, student if keeping else None)
    if this_check_in is None or model is None:
        resources_at_end_ui(settings)
        return
    check_in_ui(this_check_in, settings)
    remember(photo, this_check_in.kept_reading)
    history_ui(settings, student)
    resources_at_end_ui(settings)
    st.markdown(_("FaceMood reads facial expressions; it cannot know how you feel, and this is not a diagnosis."))
    with st.expander(_("About this reading")):
        about_ui(model)


def about_ui(model) -> None:
    """How often a reading like this is right on people the model has never seen (the served
    bundle's own figures, from its manifest), what it cannot tell, and its model card."""
    report = model.manifest.photo_report if model.manifest is not None else None
    if report is not None:
        st.markdown(_("On {photos} photos of {persons} people this model had never seen, it read the expression "
                      "the way people did {accuracy}% of the time.").format(
            photos=report.photos, persons=report.persons, accuracy=percent(report.accuracy)))
        if report.flag_precision is not None and report.flag_recall is not None:
            st.markdown(_("When it offered help, people saw distress in that face too {precision}% of the time; of "
                          "the faces where people saw distress, it offered help for {recall}%.").format(
                precision=percent(report.flag_precision), recall=percent(report.flag_recall)))
    st.markdown(_("It reads the expression a face shows, not how you feel: it cannot see a hard day behind a smile, "
                  "and a face that is small, dark or turned away is read less well."))
    if model.model_card:
        st.download_button(_("The model card: how this model was made and tested, and where it falls short"),
                           model.model_card, file_name=f"facemood-model-{model.run_id}.md", mime="text/markdown",
                           key="model_card")
    st.caption(_("Model {run_id}.").format(run_id=model.run_id))


def main() -> None:
    """The page: its top, its body, and the language switch at the end whatever the state."""
    settings = page_top()
    if settings is not None:
        page_body(settings)
    language_switch_ui(settings.languages if settings else catalogue_languages())


main()
