"""Many students at once: the shared face step and model give every thread the answer it
would get alone (OpenCV's networks are not thread-safe; the face step must not share them)."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from facemood import bundle
from facemood.app_settings import load_app_settings
from facemood.checkin import check_in
from facemood.config import REPO_ROOT
from facemood.face_steps import InProcessFaceStep
from tests.photos import encode_jpeg, event_for, make_photo

THREADS = 8


@pytest.fixture(scope="module")
def photos(fer2013):
    """Sixteen JPEG photos of Training faces, a third of them with two faces."""
    picked = fer2013["pixels"][np.flatnonzero(fer2013["usage"] == "Training")[::1201][:24]]
    rng = np.random.default_rng(12)
    out, cursor = [], 0
    while len(out) < 16:
        k = 2 if len(out) % 3 == 0 else 1
        out.append(encode_jpeg(make_photo(rng, list(picked[cursor:cursor + k]), (640, 480))[0]))
        cursor += k
    return out


def summary(this_check_in) -> list:
    """What a check-in says, exactly: boxes, found count, every probability."""
    return [this_check_in.faces_found] + [(r.face.box, r.top, r.flagged, tuple(r.probabilities.values()))
                                          for r in this_check_in.readings]


def test_check_ins_from_many_threads_match_the_single_threaded_answers(photos):
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    settings = load_app_settings()
    model = bundle.load_bundle(str(REPO_ROOT))
    step = InProcessFaceStep(settings.faces, workers=2)
    alone = [summary(check_in(photo, step, model, settings)) for photo in photos]
    assert sum(len(a) - 1 for a in alone) >= 16  # the photos' faces were found

    def run(index: int) -> list:
        return summary(check_in(photos[index % len(photos)], step, model, settings))

    with ThreadPoolExecutor(THREADS) as pool:
        together = list(pool.map(run, range(len(photos) * 4)))
    for index, answer in enumerate(together):
        assert answer == alone[index % len(photos)], index


def test_the_face_lambda_handler_answers_eight_threads_at_once(photos):
    from lambdas import face as face_lambda

    events = [event_for(photo) for photo in photos]
    alone = [face_lambda.handler(event) for event in events]
    with ThreadPoolExecutor(THREADS) as pool:
        together = list(pool.map(lambda i: face_lambda.handler(events[i % len(events)]), range(len(events) * 3)))
    for index, answer in enumerate(together):
        assert answer == alone[index % len(events)], index
