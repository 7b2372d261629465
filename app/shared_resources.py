"""What the page builds once per process and every session shares: the settings, the model
cache and the face step. They live outside app.py because Streamlit runs app.py again on every
interaction: each ``@st.cache_resource`` there was wrapped again on every run (Streamlit reads the
function's source to key it); a module is imported once. The load bench cannot tell the saving
from its noise (docs/testing.md), but the work was done for nothing on every run."""

from __future__ import annotations

import logging
from dataclasses import replace

import streamlit as st

from facemood import storage
from facemood.app_settings import LOCAL_FACE_STEP, AppSettings, load_app_settings
from facemood.checkin import FaceStep, shrink_upload
from facemood.face_steps import InProcessFaceStep, LambdaFaceStep, lambda_client
from facemood.logs import setup_logging
from facemood.model_cache import ModelCache

log = logging.getLogger("facemood.app")


@st.cache_resource
def app_settings() -> AppSettings:
    """config/app.yaml, read once per process; placeholder resources are logged, never shown.
    Logging is set up first (JSON in AWS or with FACEMOOD_LOG_FORMAT=json), once per process."""
    setup_logging()
    settings = load_app_settings()
    for problem in settings.problems():
        log.warning("a counselling resource is not shown to students", extra={"problem": problem})
    return settings


@st.cache_resource
def model_cache(uri: str, refresh_seconds: float) -> ModelCache:
    """One model cache per process; it re-checks latest.json every refresh_seconds."""
    return ModelCache(uri, refresh_seconds, storage.client_for(uri))


@st.cache_resource
def shared_face_step(_settings: AppSettings) -> FaceStep:
    """The face step, shared by every session: in-process locally, the face Lambda on AWS."""
    if _settings.face_function == LOCAL_FACE_STEP:
        return InProcessFaceStep(replace(_settings.faces, max_request_bytes=_settings.upload_max_bytes))
    return LambdaFaceStep(_settings.face_function, lambda_client(_settings.face_timeout_seconds),
                          _settings.faces.max_request_bytes, lambda photo: shrink_upload(photo, _settings))
