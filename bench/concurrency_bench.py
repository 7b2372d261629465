"""Benchmark: check-ins per second when several sessions share the in-process face step.

Runs the app's check-in (decode, face step, model) from 1, 2 and 4 threads at once, with
the face step holding one detector (a lock) or one per core (a pool), and prints the
throughput and the median latency of each.

    python -m bench.concurrency_bench [--photos 40]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from facemood import bundle
from facemood.app_settings import load_app_settings
from facemood.checkin import check_in
from facemood.config import REPO_ROOT
from facemood.face_steps import InProcessFaceStep
from tests.fer2013 import fer2013_path, load_fer2013
from tests.photos import encode_jpeg, make_photo


def timed_check_in(photo: bytes, step: InProcessFaceStep, model: bundle.Bundle, settings) -> float:
    """Seconds one check-in takes."""
    started = time.perf_counter()
    check_in(photo, step, model, settings)
    return time.perf_counter() - started


def main() -> None:
    """Measure each (detectors, threads) pair; print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40)
    args = parser.parse_args()
    data = load_fer2013(fer2013_path())
    faces = data["pixels"][np.flatnonzero(data["usage"] == "PublicTest")[: args.photos]]
    rng = np.random.default_rng(3)
    photos = [encode_jpeg(make_photo(rng, [face], (640, 480))[0]) for face in faces]
    settings = load_app_settings()
    model = bundle.load_bundle(str(REPO_ROOT))
    print(f"{len(photos)} photos at 640x480, each checked in by every thread")
    for detectors in (1, 2):
        step = InProcessFaceStep(settings.faces, workers=detectors)
        for threads in (1, 2, 4):
            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                latencies = list(pool.map(lambda photo, step=step: timed_check_in(photo, step, model, settings),
                                          photos * threads))
            wall = time.perf_counter() - started
            print(f"  {detectors} detector(s), {threads} thread(s): {len(photos) * threads / wall:5.1f} check-ins/s, "
                  f"median latency {statistics.median(latencies) * 1e3:5.1f} ms")


if __name__ == "__main__":
    main()
