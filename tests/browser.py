"""Headless Chromium (Debian's package) driven by Playwright, for the browser tests."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator

import pytest

from facemood.config import REPO_ROOT

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@contextlib.contextmanager
def chromium_page(viewport: dict | None = None, locale: str = "en-US") -> Iterator:
    """A Playwright page in Debian's chromium whose browser asks for ``locale`` (Accept-Language);
    skips the test when either is missing."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: install the dev extra "
                                   "(pip install -e '.[dev]', as make test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport or LAPTOP, locale=locale)
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def explained_failure(browser, app_log_tail: Callable[[], str]) -> Iterator[None]:
    """Re-raise a failure inside with what each open page showed (its URL and text) and the end
    of the app's log: a browser test that times out otherwise says only what it waited for."""
    try:
        yield
    except Exception as exc:
        shown = []
        for context in browser.contexts:
            for page in context.pages:
                try:
                    text = page.locator("body").inner_text(timeout=5_000)
                except Exception as problem:  # pylint: disable=broad-exception-caught  # a hung page says so
                    text = f"(its text cannot be read: {problem})"
                shown.append(f"{page.url}:\n{text[-1500:]}")
        raise AssertionError(f"{exc}\n--- pages ---\n" + "\n\n".join(shown)
                             + f"\n--- the app's log ---\n{app_log_tail()}") from exc


def upload_and_read_emotion(page, url: str, photo_path: str, timeout_ms: int = 90_000,
                            keyboard: bool = False) -> str:
    """Open the app, pass the notice if this browser session has not yet (with the keyboard alone
    when ``keyboard``), upload a photo and return the reading's heading."""
    page.goto(url, wait_until="domcontentloaded")
    consent = page.get_by_role("button", name="I understand, continue")
    prompt = page.get_by_text("Upload or take a photo of your face")
    consent.or_(prompt).first.wait_for(timeout=timeout_ms)  # the notice is asked once per browser session
    if consent.is_visible():
        if keyboard:
            assert tab_to(page, "el => el.tagName === 'BUTTON' && el.innerText.includes('I understand, continue')"), \
                "the notice's button cannot be reached with Tab"
            page.keyboard.press("Enter")
        else:
            consent.click(timeout=timeout_ms)
    prompt.wait_for(timeout=timeout_ms)
    page.locator("input[type=file]").set_input_files(photo_path)
    heading = page.locator("h2").filter(has_text="%").first
    heading.wait_for(timeout=timeout_ms)
    wait_until_drawn(page, timeout_ms)
    return heading.inner_text()


CHARTS_PAINTED = """() => !document.querySelector('[data-testid="stSkeleton"]')
  && document.querySelectorAll('[data-testid="stVegaLiteChart"]').length > 0
  && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].every(chart => {
    if (chart.querySelector('svg .role-mark')) return true;
    const canvas = chart.querySelector('canvas');
    if (!canvas || !canvas.width || !canvas.height) return false;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4 * 31) { if (pixels[i]) return true; }
    return false;
})"""


def wait_until_drawn(page, timeout_ms: int) -> None:
    """Wait until the page is complete: its last element shown, nothing left loading, every chart painted."""
    page.get_by_text("About this reading").wait_for(timeout=timeout_ms)
    page.wait_for_function(CHARTS_PAINTED, timeout=timeout_ms)


def tab_to(page, predicate_js: str, max_presses: int = 60) -> bool:
    """Press Tab until the focused element satisfies ``predicate_js`` (a JS function of the
    element); False when it is never reached, i.e. a keyboard user could not get there."""
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({predicate_js})(el); }}"):
            return True
    return False


def served_model(page) -> str:
    """The model run id the page names under "About this reading"."""
    page.get_by_text("About this reading").click()
    return page.get_by_text("Model ").last.inner_text()


def in_first_viewport(page, locator) -> bool:
    """True when ``locator`` lies wholly inside the first screen, before any scrolling."""
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


AXE = REPO_ROOT / ".node" / "node_modules" / "axe-core" / "axe.min.js"


def accessibility_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is now (skips without axe-core)."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE}: make test installs it with npm "
                    "(npm install --prefix .node axe-core)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['impact']} {v['id']}: {v['help']} ({v['nodes'][0]['html'][:120]})"
            for v in result["violations"] if v["impact"] in impacts]
