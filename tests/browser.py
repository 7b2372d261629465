"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
from collections.abc import Iterator

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def chromium_page() -> Iterator:
    """A Playwright page in Debian's chromium; skips the test when either is missing."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: install the dev extra "
                                   "(pip install -e '.[dev]', as make test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1500})
            yield page
        finally:
            browser.close()


def upload_and_read_emotion(page, url: str, photo_path: str, timeout_ms: int = 90_000) -> str:
    """Open the app, upload a photo and return the emotion heading it shows."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Upload or take a photo of your face").wait_for(timeout=timeout_ms)
    page.locator("input[type=file]").set_input_files(photo_path)
    heading = page.locator("h3").filter(has_text="%").first
    heading.wait_for(timeout=timeout_ms)
    wait_until_drawn(page, timeout_ms)
    return heading.inner_text()


def wait_until_drawn(page, timeout_ms: int) -> None:
    """Wait until the page is complete (its last line names the model) and every chart has drawn."""
    page.get_by_text(re.compile(r"Model [\w-]+\.")).wait_for(timeout=timeout_ms)
    charts = page.get_by_test_id("stVegaLiteChart")
    for index in range(charts.count()):
        charts.nth(index).locator("canvas, svg").first.wait_for(timeout=timeout_ms)
