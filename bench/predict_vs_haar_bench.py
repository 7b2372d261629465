"""Benchmark: `facemood predict` over many photos, start-up included, against OpenCV's Haar
cascade (the `fer` package's detector) detecting faces in the same photo files alone.

Both run on one core, taking turns round by round. `facemood predict` does everything a check-in
does (decode, MTCNN detection, the face-presence check, crop, the served model, the photo
calibration) and starts a fresh process each round; Haar reads each file and detects, in this
process, so its start-up is not counted (the comparison favours Haar).

    python -m bench.predict_vs_haar_bench [--photos 425] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facemood.config import REPO_ROOT
from tests.fer2013 import fer2013_path, load_fer2013
from tests.photos import encode_jpeg, make_photo


def write_photos(folder: Path, count: int, seed: int = 21) -> list[Path]:
    """``count`` 640x480 JPEGs, each with one or two PublicTest faces, written into ``folder``."""
    data = load_fer2013(fer2013_path())
    test = np.flatnonzero(data["usage"] == "PublicTest")
    rng = np.random.default_rng(seed)
    paths = []
    for number in range(count):
        picked = rng.choice(test, 2 if rng.random() < 0.2 else 1, replace=False)
        photo, _ = make_photo(rng, [data["pixels"][i] for i in picked], (640, 480))
        path = folder / f"photo-{number:04d}.jpg"
        path.write_bytes(encode_jpeg(photo))
        paths.append(path)
    return paths


def one_core() -> None:
    """Run on the first CPU this process may use (OpenCV and onnxruntime then use one thread)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def predict_seconds(paths: list[Path]) -> tuple[float, int]:
    """Wall seconds of one `facemood predict` over every photo, its start-up included, and how
    many photos it answered with an error (it exits 1 when any did)."""
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # as a developer's shell: Python keeps what it compiles
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", "predict", "--model", str(REPO_ROOT / "models" / "latest.json"),
                           *map(str, paths)], cwd=REPO_ROOT,
                          env=environment, check=False, capture_output=True, text=True)  # on this process's core
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"facemood predict failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return seconds, sum("error" in entry for entry in json.loads(done.stdout))


def haar_seconds(paths: list[Path]) -> tuple[float, int]:
    """Wall seconds of Haar detection over every photo file (read, grey, detect), and faces found."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = 0
    started = time.perf_counter()
    for path in paths:
        gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
        found += len(cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40)))
    return time.perf_counter() - started, found


def main() -> None:
    """Write the photos, time both in turns, print the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=425)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import cv2

    one_core()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="facemood-predict-bench-") as folder:
        paths = write_photos(Path(folder), args.photos)
        predict_seconds(paths[:1])  # compiles what predict imports, as any earlier run on this machine has
        predict, haar = [], []
        for _ in range(args.rounds):
            seconds, errors = predict_seconds(paths)
            predict.append(seconds)
            seconds, found = haar_seconds(paths)
            haar.append(seconds)
    p, h = statistics.median(predict), statistics.median(haar)
    print(f"{args.photos} photos of 640x480, one core, median of {args.rounds} rounds: facemood predict "
          f"{p:.2f} s ({1000 * p / args.photos:.1f} ms a photo, start-up included; {errors} answered with an "
          f"error); Haar detection alone "
          f"{h:.2f} s ({1000 * h / args.photos:.1f} ms a photo, {found} faces found): ratio {p / h:.2f}")


if __name__ == "__main__":
    main()
