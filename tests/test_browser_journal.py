"""A real sign-in, end to end: headless Chromium signs in through the OpenID Connect test
provider, keeps a journal, reloads, downloads and deletes it; a second student sees nothing of
the first's. DynamoDB and Secrets Manager are moto's server; the app is the real Streamlit process."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import replace

import numpy as np
import pytest

from facemood import bundle, secret_store
from facemood.app_settings import load_app_settings
from facemood.config import REPO_ROOT
from facemood.journal import Journal, JournalEntry, student_key
from local_stack.app_process import start_app
from local_stack.s3_server import free_port
from local_stack.stack import LocalStack, load_stack_settings
from tests.browser import CHROMIUM_ARGS, PHONE, accessibility_violations, explained_failure, in_first_viewport
from tests.photos import encode_jpeg, make_photo
from tests.test_browser import clear_photo

IMAGES = REPO_ROOT / "images"
TIMEOUT_MS = 90_000
SWITCH = "Keep my check-ins (only you can see them)"
SAD = {"angry": 0.05, "disgust": 0.0, "fear": 0.1, "happy": 0.02, "sad": 0.7, "surprise": 0.03, "neutral": 0.1}


def sign_in(page, url: str, subject: str) -> None:
    """Open the page and sign in as ``subject`` on the provider's own form."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click(timeout=TIMEOUT_MS)
    page.locator("input[name=sub]").fill(subject, timeout=TIMEOUT_MS)  # the provider's page, not the app's
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text(f"Signed in as {subject.title()}.").wait_for(timeout=TIMEOUT_MS)  # back on the page


def pass_notice(page, asked: bool = True) -> None:
    """Continue past the notice to the upload; ``asked``: the notice must be asked (else it must
    not be: it was accepted earlier in this browser session)."""
    if asked:
        page.get_by_role("button", name="I understand, continue").click(timeout=TIMEOUT_MS)
    page.get_by_text("Upload or take a photo of your face").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("button", name="I understand, continue").count() == 0


@pytest.mark.slow
def test_a_student_keeps_downloads_and_deletes_a_private_journal(fer2013, tmp_path, s3_server, update_screenshots):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = __import__("shutil").which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it with apt-get)")
    if bundle.read_latest(str(REPO_ROOT)) is None:
        pytest.skip("no shipped model under models/: train one with `make model && make model-photos` (docs/model.md)")
    s3_server.reset()  # moto's backends live in this process: start without other tests' tables
    rng = np.random.default_rng(16)
    training = np.flatnonzero(fer2013["usage"] == "Training")
    photos = []
    for number in range(3):
        photo, _ = make_photo(rng, [fer2013["pixels"][training[rng.integers(len(training))]]], (640, 480))
        photos.append(tmp_path / f"{number}.jpg")
        photos[-1].write_bytes(encode_jpeg(photo))
    sad_photo = tmp_path / "sad.jpg"
    sad_photo.write_bytes(clear_photo(fer2013, 4, "sad"))
    settings = replace(load_stack_settings(), port=0, seed_store=str(REPO_ROOT))
    stack = LocalStack(settings, sign_in=True).start()
    app = None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        for subject in ("alice", "bob", "carol"):
            stack.provider.add_user(subject, {"email": f"{subject}@campus.example", "name": subject.title()})
        secrets = stack.provider.secrets_for(url).write(tmp_path / "secrets.toml")
        app = start_app(port, stack.environment(), tmp_path / "app.log", secrets_file=secrets)
        app.wait_ready()
        journal_settings = load_app_settings().journal
        pepper = secret_store.read_secret(stack.server.client_for("secretsmanager"), journal_settings.pepper_secret)
        table = Journal(journal_settings.table, stack.server.client_for("dynamodb"), journal_settings.retention_days)
        alice = student_key(pepper.encode(), stack.provider.issuer, "alice")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            with explained_failure(browser, app.log_tail):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                # opened by another name of the server, the page moves to the one sign-in returns to
                page.goto(f"http://localhost:{port}", wait_until="domcontentloaded")
                page.wait_for_url(f"{url}/", timeout=TIMEOUT_MS)
                page.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
                # a sign-in that fails (the student denies it at the provider) is said on the page
                page.get_by_role("button", name="Sign in").click(timeout=TIMEOUT_MS)
                page.locator("input[name=sub]").fill("alice", timeout=TIMEOUT_MS)
                page.get_by_role("button", name="Deny").click()
                page.get_by_text("Signing in didn't work that time.").wait_for(timeout=TIMEOUT_MS)
                sign_in(page, url, "alice")
                pass_notice(page)
                page.get_by_text(SWITCH, exact=True).click()  # its label, as a student clicks it
                for number, photo in enumerate(photos, start=1):
                    page.locator("input[type=file]").set_input_files(str(photo))
                    page.get_by_text(f"Your check-ins, last 14 days ({number})").wait_for(timeout=TIMEOUT_MS)
                assert len(table.entries(alice)) == 3

                page.reload(wait_until="domcontentloaded")  # a new session: the journal is still there
                pass_notice(page, asked=False)  # ... and the notice, accepted in this browser session, is not asked
                page.get_by_text("Your check-ins, last 14 days (3)").wait_for(timeout=TIMEOUT_MS)
                assert accessibility_violations(page) == []  # axe-core: the switch, the chart, the buttons
                assert page.get_by_role("switch", name=SWITCH).is_checked()
                page.get_by_text(SWITCH, exact=True).scroll_into_view_if_needed()
                shot = IMAGES / "app-journal.png" if update_screenshots else tmp_path / "journal.png"
                page.screenshot(path=str(shot), full_page=True)
                with page.expect_download() as download:
                    page.get_by_role("button", name="Download my check-ins (CSV)").click()
                rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
                assert len(rows) == 3 and {"time_utc", "sad", "help_shown"} <= set(rows[0])

                other = browser.new_context(viewport=PHONE).new_page()  # a second student, on a phone
                sign_in(other, url, "bob")
                pass_notice(other)
                assert other.get_by_text("Your check-ins, last 14 days").count() == 0
                assert other.get_by_role("switch", name=SWITCH).is_checked() is False
                other.locator("input[type=file]").set_input_files(str(sad_photo))  # signed in: help still first
                other.locator("h2").filter(has_text="Looks mostly sad").wait_for(timeout=TIMEOUT_MS)
                other.evaluate("window.scrollTo(0, 0)")
                assert in_first_viewport(other, other.locator("[data-testid=stAlert] a[href='tel:988']").first)

                # a third student whose own journal shows hard days recurring: help comes first
                carol = student_key(pepper.encode(), stack.provider.issuer, "carol")
                for days in (3, 2, 1):
                    table.add(carol, JournalEntry(time.time() - days * 86_400, f"d{days}", SAD, True, True))
                third = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                sign_in(third, url, "carol")
                note = third.get_by_text("Several of your recent check-ins looked sad")
                note.wait_for(timeout=TIMEOUT_MS)
                assert third.locator("a[href='tel:988']").first.is_visible()
                # before any upload
                third.get_by_role("button", name="I understand, continue").wait_for(timeout=TIMEOUT_MS)
                assert accessibility_violations(third) == []
                shot = IMAGES / "app-proactive.png" if update_screenshots else tmp_path / "help.png"
                third.screenshot(path=str(shot))

                # signing out goes through the provider's own sign-out page (this provider has one; Cognito
                # has none and Streamlit returns at once) and back: signed out, and not told a sign-in failed
                third.get_by_role("button", name="Sign out").click()
                third.get_by_role("button", name="End session").click(timeout=TIMEOUT_MS)  # the provider's page
                third.get_by_text("You're signed out.").wait_for(timeout=TIMEOUT_MS)
                # the page streams its elements as it runs: the button follows the note a moment later
                third.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
                assert third.get_by_role("button", name="Sign in").count() == 1
                assert third.get_by_text("Signing in didn't work").count() == 0
                third.reload(wait_until="domcontentloaded")  # the note is said once; a reload is no failure either
                third.get_by_role("button", name="Sign in").wait_for(timeout=TIMEOUT_MS)
                time.sleep(2)
                assert third.get_by_text("Signing in didn't work").count() == 0
                assert third.get_by_text("You're signed out.").count() == 0

                page.get_by_role("button", name="Delete all my check-ins").click()
                page.get_by_role("button", name="Yes, delete them all").click()
                page.get_by_text("all your check-ins are deleted").wait_for(timeout=TIMEOUT_MS)
            browser.close()
        items = stack.server.client_for("dynamodb").query(
            TableName=journal_settings.table, KeyConditionExpression="student = :k",
            ExpressionAttributeValues={":k": {"S": alice}})["Items"]
        assert items == []
    finally:
        if app is not None:
            app.stop()
        stack.stop()
