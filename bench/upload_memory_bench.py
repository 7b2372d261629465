"""Benchmark: peak memory and time of `facemood predict` on the largest photos it accepts.

Each photo is read by a fresh `facemood predict` process; its peak RSS (from the kernel's
rusage) and wall time are printed next to a small photo's. Target: <= 512 MiB for any
accepted upload.

    python -m bench.upload_memory_bench
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from facemood.config import REPO_ROOT

MIB = 1024 * 1024


def gradient(width: int, height: int, channels: int, dtype=np.uint8) -> np.ndarray:
    """A smooth image (compresses well, so the file is small and the decode is large)."""
    top = np.iinfo(dtype).max
    x = np.linspace(0, top, width, dtype=np.float64)[None, :]
    y = np.linspace(0, top, height, dtype=np.float64)[:, None]
    plane = ((x + y) / 2).astype(dtype)
    return plane if channels == 1 else np.repeat(plane[..., None], channels, axis=2)


CASES = {
    "640x480 JPEG (for scale)": (lambda: Image.fromarray(gradient(640, 480, 3)), "small.jpg", {"quality": 90}),
    "6300x6300 16-bit grayscale PNG (39.7 MP)": (lambda: Image.fromarray(gradient(6300, 6300, 1, np.uint16)),
                                                "gray16.png", {}),
    "7300x5470 RGB PNG (39.9 MP)": (lambda: Image.fromarray(gradient(7300, 5470, 3)), "rgb.png", {}),
    "5790x5790 RGBA PNG (33.5 MP, 127.9 MiB decoded)": (lambda: Image.fromarray(gradient(5790, 5790, 4), "RGBA"),
                                                       "rgba.png", {}),
    "8000x6000 phone JPEG (48 MP)": (lambda: Image.fromarray(gradient(8000, 6000, 3)), "phone.jpg",
                                     {"quality": 90}),
}


def make_photos(folder: Path) -> None:
    """Write every case's photo (in a process of its own: a child forked from a process that
    held these images would count them in its peak RSS)."""
    for make, filename, options in CASES.values():
        make().save(folder / filename, **options)


def measure(path: Path) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of `facemood predict` on ``path``."""
    command = [sys.executable, "-m", "cli", "predict", "--model", str(REPO_ROOT), str(path)]
    started = time.perf_counter()
    # pylint: disable-next=consider-using-with  # waited for with os.wait4 to read its rusage
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, os.waitstatus_to_exitcode(status)


def main() -> None:
    """Build the photos, measure each, print."""
    if len(sys.argv) == 3 and sys.argv[1] == "--make":
        make_photos(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "bench.upload_memory_bench", "--make", folder], check=True)
        for name, (_, filename, _) in CASES.items():
            path = Path(folder) / filename
            rss, seconds, code = measure(path)
            verdict = "accepted" if code == 0 else "refused"
            print(f"{name:48s} {path.stat().st_size / 1024:8.0f} KB  {verdict:8s} peak RSS {rss:6.0f} MiB  "
                  f"{seconds:5.2f} s (whole command)")


if __name__ == "__main__":
    main()
