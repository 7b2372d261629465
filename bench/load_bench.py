"""Benchmark: N students checking in at once against the local app, over its real websocket.

Each session is its own headless Chromium context (its own Streamlit session): it opens the
page, passes the notice and uploads ``--uploads`` different photos one after another, each
time waiting until the page shows that check-in in the session's history. Reports check-ins
per second, the time from upload to result (p50, p95), the app process's CPU per check-in
(measured over the uploads only; opening a session and passing the notice is reported apart)
and its memory per open session, after one warm-up session (the model and detector load
once). Loopback only, bounded in sessions, uploads and time. The browsers share this
machine's cores with the app, so the figures are conservative.

    python -m bench.load_bench [--sessions 1 10 50] [--uploads 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from facemood.app_settings import LOCAL_FACE_STEP, load_app_settings
from facemood.config import ENV, REPO_ROOT
from facemood.faces import FacePreprocessor
from local_stack.app_process import start_app
from local_stack.s3_server import free_port
from tests.browser import CHROMIUM_ARGS
from tests.fer2013 import fer2013_path, load_fer2013
from tests.photos import encode_jpeg, make_photo

TIMEOUT_MS = 180_000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def open_session(browser, url: str):
    """One student's session: the page, then past the notice to the upload."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    await page.get_by_role("button", name="I understand, continue").click(timeout=TIMEOUT_MS)
    await page.get_by_text("Upload or take a photo of your face").wait_for(timeout=TIMEOUT_MS)
    return context, page


async def check_ins(page, photos: list[str], latencies: list[float]) -> None:
    """Each photo in turn, timed from upload until the page shows it in the session's history."""
    for number, photo in enumerate(photos, start=1):
        started = time.perf_counter()
        await page.locator("input[type=file]").set_input_files(photo, timeout=TIMEOUT_MS)
        await page.get_by_text(f"Your check-ins this session ({number})").wait_for(timeout=TIMEOUT_MS)
        latencies.append(time.perf_counter() - started)


async def run(url: str, pid: int, sessions: int, photo_sets: list[list[str]]) -> dict[str, float]:
    """Open ``sessions`` students at once; return the figures."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        warm_up, warm_page = await open_session(browser, url)  # loads the model and the detector
        await check_ins(warm_page, photo_sets[-1][:1], [])
        await warm_up.close()
        latencies: list[float] = []
        rss_before, cpu_before = rss_mib(pid), cpu_seconds(pid)
        opened = await asyncio.gather(*[open_session(browser, url) for _ in range(sessions)])
        cpu_opened, started = cpu_seconds(pid), time.perf_counter()
        await asyncio.gather(*[check_ins(page, photo_sets[i % len(photo_sets)], latencies)
                               for i, (_, page) in enumerate(opened)])
        wall, cpu, rss_after = time.perf_counter() - started, cpu_seconds(pid) - cpu_opened, rss_mib(pid)
        for context, _ in opened:
            await context.close()
        await browser.close()
    return {"check_ins": len(latencies), "per_second": len(latencies) / wall,
            "p50": statistics.median(latencies), "p95": float(np.percentile(latencies, 95)),
            "cpu_per_check_in": cpu / max(len(latencies), 1),
            "cpu_per_session_opened": (cpu_opened - cpu_before) / sessions,
            "mib_per_session": (rss_after - rss_before) / sessions,
            "rss": rss_after}


def main() -> None:
    """Serve the app with the shipped model, run each load, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--uploads", type=int, default=3, help="photos per session")
    args = parser.parse_args()
    data = load_fer2013(fer2013_path())
    training = np.flatnonzero(data["usage"] == "Training")
    rng = np.random.default_rng(4)
    detect = FacePreprocessor(load_app_settings().faces)
    with tempfile.TemporaryDirectory() as folder:
        photo_sets = []
        for set_number in range(10):  # ten different sets; sessions reuse them
            paths = []
            while len(paths) < args.uploads:
                photo, _ = make_photo(rng, [data["pixels"][training[rng.integers(len(training))]]], (640, 480))
                encoded = encode_jpeg(photo)
                if len(detect(encoded).faces) != 1:  # no check-in: the session's count would not move
                    continue
                path = Path(folder) / f"{set_number}-{len(paths)}.jpg"
                path.write_bytes(encoded)
                paths.append(str(path))
            photo_sets.append(paths)
        for sessions in args.sessions:
            log_path = Path(folder) / f"app-{sessions}.log"
            app = start_app(free_port(), {ENV.MODEL_URI: str(REPO_ROOT), ENV.FACE_FUNCTION: LOCAL_FACE_STEP}, log_path)
            try:
                app.wait_ready()
                figures = asyncio.run(run(app.url, app.process.pid, sessions, photo_sets))
            finally:
                app.stop()
            # a check-in that failed never shows in the history (the run stops at its timeout); the log
            # also says whether anything went wrong along the way
            errors = [line for line in log_path.read_text(errors="replace").splitlines()
                      if " ERROR " in line or "Traceback" in line]
            print(f"{sessions:3d} sessions x {args.uploads} uploads: {figures['check_ins']} check-ins, "
                  f"{figures['per_second']:.2f}/s; upload to result p50 {figures['p50']:.2f} s, "
                  f"p95 {figures['p95']:.2f} s; app CPU {1000 * figures['cpu_per_check_in']:.0f} ms per check-in "
                  f"(and {1000 * figures['cpu_per_session_opened']:.0f} ms per session opened); "
                  f"{figures['mib_per_session']:.1f} MiB per session (app RSS {figures['rss']:.0f} MiB); "
                  f"{len(errors)} error lines in the app's log", flush=True)


if __name__ == "__main__":
    main()
