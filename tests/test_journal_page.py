"""The page with campus sign-in and the journal (AppTest; DynamoDB and Secrets Manager on moto's server)."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import csv
import io
import re
import time

import numpy as np
import pytest
import yaml

from facemood import aws, journal, secret_store
from facemood.emotions import EMOTIONS
from facemood.i18n import ENGLISH, expression_names
from facemood.journal import Journal, JournalEntry, student_key
from tests.apptest import CONFIG, texts, upload
from tests.photos import encode_jpeg, make_photo

pytestmark = pytest.mark.integration  # docs/testing.md: the layers

SETTINGS = yaml.safe_load((CONFIG / "app.yaml").read_text())
TABLE, PEPPER = SETTINGS["journal"]["table"], SETTINGS["journal"]["pepper_secret"]
ISSUER = "http://localhost:9400"
AUTH = {"auth": {"client_id": "facemood-test", "client_secret": "x" * 32, "cookie_secret": "y" * 32,
                 "server_metadata_url": f"{ISSUER}/.well-known/openid-configuration",
                 "redirect_uri": "http://127.0.0.1:8501/oauth2callback"}}
SAD = {"angry": 0.05, "disgust": 0.0, "fear": 0.1, "happy": 0.02, "sad": 0.7, "surprise": 0.03, "neutral": 0.1}
HAPPY = {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.9, "sad": 0.02, "surprise": 0.03, "neutral": 0.05}


@pytest.fixture
def table(s3) -> Journal:
    """The journal table and the pepper, created on moto's server as the local stack does."""
    del s3
    journal.create_table(aws.aws_client("dynamodb"), TABLE)
    secret_store.ensure_random_secret(aws.aws_client("secretsmanager"), PEPPER)
    return Journal(TABLE, aws.aws_client("dynamodb"), 90)


def key_of(subject: str) -> str:
    """The journal key the page derives for a subject (the test reads the pepper as the app does)."""
    pepper = secret_store.read_secret(aws.aws_client("secretsmanager"), PEPPER).encode()
    return student_key(pepper, ISSUER, subject)


@pytest.fixture
def student(app, table):
    """A factory: the page as signed-in ``subject`` sees it, in a new session."""
    del table

    def open_page(subject: str = "alice", consented: bool = True):
        return app(consented=consented, auth="oidc", secrets=AUTH,
                   user={"is_logged_in": True, "iss": ISSUER, "sub": subject, "email": f"{subject}@campus.edu"})

    return open_page


def all_items(table: Journal, key: str) -> list[dict]:
    """Every item the table holds for ``key``, read directly."""
    return table.client.query(TableName=TABLE, KeyConditionExpression="student = :k",
                              ExpressionAttributeValues={":k": {"S": key}})["Items"]


def test_signed_out_the_page_offers_sign_in_and_nothing_else(app, table):
    del table
    test = app(consented=False, auth="oidc", secrets=AUTH, user={"is_logged_in": False})
    assert not test.exception
    assert test.button(key="sign_in").label == "Sign in"
    assert not test.get("file_uploader") and not test.get("toggle")
    assert any("campus account" in text for text in texts(test, "markdown"))


def test_the_journal_is_off_by_default_and_nothing_is_kept(student, photos, table):
    test = student()
    assert test.toggle(key="journal_on").value is False
    upload(test, photos["one"])
    assert texts(test, "header") and all_items(table, key_of("alice")) == []
    assert any("this session (1)" in text for text in texts(test, "markdown"))  # the session's own history


def test_with_the_journal_on_a_check_in_is_kept_once_and_seen_in_a_new_session(student, photos, table):
    test = student()
    test.toggle(key="journal_on").set_value(True).run()
    upload(test, photos["one"])
    test.run()  # another rerun of the same upload (any interaction) keeps nothing new
    entries = table.entries(key_of("alice"))
    assert len(entries) == 1 and sum(entries[0].probabilities.values()) == pytest.approx(1, abs=1e-5)
    item = all_items(table, key_of("alice"))
    stored = {name for i in item for name in i}
    assert stored <= {"student", "item", "probabilities", "clear", "help_shown", "expires_at", "keep", "notice"}
    again = student()  # a reload: a new session
    assert again.toggle(key="journal_on").value is True
    assert any("last 14 days (1)" in text for text in texts(again, "markdown"))
    assert len(again.get("vega_lite_chart")) == 1
    assert student("bob").toggle(key="journal_on").value is False  # another student sees nothing of alice's
    assert not any("last 14 days" in text for text in texts(student("bob"), "markdown"))


def test_download_and_delete_everything(student, table):
    key = key_of("alice")
    table.switch(key, True)
    for hours in (1, 30, 60):
        table.add(key, JournalEntry(time.time() - hours * 3600, f"c{hours}", HAPPY, True, False))
    table.add(key_of("bob"), JournalEntry(time.time(), "b", SAD, True, True))
    test = student()
    download = test.get("download_button")[0]
    assert download.proto.label == "Download my check-ins (CSV)"
    rows = list(csv.reader(io.StringIO(journal.to_csv(table.entries(key)))))
    assert len(rows) == 4
    test.button(key="delete").click().run()
    assert any("now and for good" in text for text in texts(test, "warning"))
    test.button(key="delete_confirmed").click().run()
    assert any("all your check-ins are deleted" in text for text in texts(test, "success"))
    assert all_items(table, key) == []  # the entries and the switch
    assert test.toggle(key="journal_on").value is False
    assert len(all_items(table, key_of("bob"))) == 1


def test_cancel_keeps_everything(student, table):
    key = key_of("alice")
    table.add(key, JournalEntry(time.time() - 60, "c", HAPPY, True, False))
    test = student()
    test.button(key="delete").click().run()
    test.button(key="delete_cancelled").click().run()
    assert len(all_items(table, key)) == 1 and not texts(test, "success")


def proactive(test) -> list[str]:
    """The proactive-help messages on the page."""
    return [text for text in texts(test, "info") if "Welcome back" in text]


def test_recurring_distress_opens_the_page_with_help_and_says_why(student, table):
    key, day, now = key_of("alice"), 86_400, time.time()
    table.add(key, JournalEntry(now - 3 * day, "a", SAD, True, True))
    table.add(key, JournalEntry(now - 2 * day, "b", SAD, True, True))
    assert not proactive(student(consented=False))  # two: not yet
    table.add(key, JournalEntry(now - day, "c", SAD, True, True))
    test = student(consented=False)  # before the notice, before any upload
    message = proactive(test)
    assert len(message) == 1 and "looked sad" in message[0] and "not a diagnosis" in message[0]
    assert "tel:988" in message[0]
    for hours in (20, 10, 5):  # happier days push the hard ones out of the last five
        table.add(key, JournalEntry(now - hours * 3600, f"h{hours}", HAPPY, True, False))
    assert not proactive(student(consented=False))
    assert not proactive(student("bob", consented=False))


def test_a_booking_link_is_offered_when_configured(app, table):
    key = key_of("alice")
    for days in (3, 2, 1):
        table.add(key, JournalEntry(time.time() - days * 86_400, f"d{days}", SAD, True, True))
    test = app(consented=False, auth="oidc", secrets=AUTH, booking_url="https://counselling.campus.edu/book",
               user={"is_logged_in": True, "iss": ISSUER, "sub": "alice"})
    assert "(https://counselling.campus.edu/book)" in proactive(test)[0]


def test_sign_in_on_but_not_set_up_says_so_plainly(app, table, caplog):
    """The student is told plainly; what an operator must fix goes to the log, not the page."""
    del table
    test = app(consented=False, auth="oidc", user={"is_logged_in": False})
    assert not test.exception and not test.get("file_uploader")
    assert any("Sign-in is switched on but not set up" in text for text in texts(test, "error"))
    assert not any("[auth]" in text for kind in ("caption", "markdown", "error") for text in texts(test, kind))
    assert any("no [auth] section" in record.getMessage() for record in caplog.records)


def test_a_second_student_in_the_same_browser_session_sees_nothing_of_the_first(student, photos, table):
    test = student("alice")
    test.toggle(key="journal_on").set_value(True).run()
    upload(test, photos["one"])
    assert len(table.entries(key_of("alice"))) == 1
    test.user = {"is_logged_in": True, "iss": ISSUER, "sub": "bob"}  # alice signs out, bob signs in, same tab
    test.run()
    assert test.toggle(key="journal_on").value is False
    assert not any("last 14 days" in text for text in texts(test, "markdown"))


def test_a_student_whose_journal_is_on_reads_the_notice_once_on_any_device(student, table):
    """Signed in with the journal on, the notice read once is kept in the journal: a new browser
    (a new session, no notice cookie) does not ask again; with the journal off it does."""
    first = student(consented=False)
    assert first.button(key="consent")  # asked: nothing kept yet
    first.button(key="consent").click().run()
    assert table.choices(key_of("alice")).notice is False  # the journal is off: nothing is kept
    first.toggle(key="journal_on").set_value(True).run()
    assert table.choices(key_of("alice")) == journal.Choices(keep=True, notice=True)

    elsewhere = student(consented=False)  # another device: a new session without the cookie
    assert not elsewhere.exception and not any(b.key == "consent" for b in elsewhere.get("button"))
    assert elsewhere.get("file_uploader")

    table.switch(key_of("alice"), False)
    assert any(b.key == "consent" for b in student(consented=False).get("button"))  # off: asked again
    assert any(b.key == "consent" for b in student("bob", consented=False).get("button"))  # another student


def test_reading_the_notice_with_the_journal_on_keeps_that(student, table):
    table.switch(key_of("carol"), True)
    test = student("carol", consented=False)
    test.button(key="consent").click().run()
    assert table.choices(key_of("carol")) == journal.Choices(keep=True, notice=True)
    assert test.get("file_uploader")


def happy_and_sad_photo(fer2013, app) -> tuple[bytes, str, int]:
    """A photo of a happy face (larger, first) beside a sad one that the page reads as two
    different expressions; the second's top expression and percentage."""
    rng = np.random.default_rng(7)
    training = fer2013["usage"] == "Training"
    happy = np.flatnonzero(training & (fer2013["emotion"] == EMOTIONS.index("happy")))
    sad = np.flatnonzero(training & (fer2013["emotion"] == EMOTIONS.index("sad")))
    names = {name: emotion for emotion, name in expression_names(ENGLISH).items()}
    for pair in range(20):  # the first pair the model reads apart (deterministic)
        photo, _ = make_photo(rng, [fer2013["pixels"][happy[pair]], fer2013["pixels"][sad[pair]]], (800, 480))
        headers = texts(upload(app(), encode_jpeg(photo)), "header")
        tops = [re.search(r"Looks mostly (\w+) \((\d+)%\)", h) for h in headers]
        if len(tops) == 2 and all(tops) and tops[0].group(1) != tops[1].group(1):
            return encode_jpeg(photo), names[tops[1].group(1)], int(tops[1].group(2))
    raise AssertionError("no pair of faces read as two clear, different expressions")


def test_a_check_in_with_several_faces_keeps_the_face_help_was_shown_for(app, fer2013, table):
    """Two faces, the second flagged alone: the journal keeps the second's reading (it kept the first's)."""
    del table
    photo, emotion, shown = happy_and_sad_photo(fer2013, app)
    rule = {"emotions": [emotion], "combine": "max", "threshold": shown / 100, "fallback_threshold": 1.0}
    test = app(distress=rule, auth="oidc", secrets=AUTH,
               user={"is_logged_in": True, "iss": ISSUER, "sub": "carol", "email": "carol@campus.edu"})
    test.toggle(key="journal_on").set_value(True).run()
    upload(test, photo)
    assert any("help is one tap away" in text for text in texts(test, "info"))
    kept = Journal(TABLE, aws.aws_client("dynamodb"), 90).entries(key_of("carol"))
    assert len(kept) == 1 and kept[0].flagged and kept[0].top == emotion
