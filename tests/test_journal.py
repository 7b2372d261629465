"""The private journal on DynamoDB (moto's server over HTTP) and the proactive-help rule."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from facemood import aws, journal
from facemood.emotions import EMOTIONS
from facemood.errors import StorageError
from facemood.journal import Choices, Journal, JournalEntry, student_key
from facemood.recurring import RecurringSettings, recurring_distress

TABLE = "facemood-journal-test"
DAY = 86_400
SAD = {"angry": 0.05, "disgust": 0.0, "fear": 0.1, "happy": 0.02, "sad": 0.7, "surprise": 0.03, "neutral": 0.1}
HAPPY = {"angry": 0.0, "disgust": 0.0, "fear": 0.0, "happy": 0.9, "sad": 0.02, "surprise": 0.03, "neutral": 0.05}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def table(s3):
    """The journal table on moto's server (the s3 fixture resets it and points boto3 at it)."""
    del s3
    client = aws.aws_client("dynamodb")
    journal.create_table(client, TABLE)
    return Journal(TABLE, client, retention_days=90)


def entry(when: float, probabilities=None, distress: bool = False, check_in_id: str | None = None):
    """A clear check-in at ``when`` (happy unless given)."""
    return JournalEntry(when, check_in_id or f"id{int(when)}", probabilities or HAPPY, True, distress)


def test_the_key_is_a_pseudonym_of_the_verified_identity_only():
    key = student_key(b"pepper", "https://idp.campus.edu", "student-1")
    assert key == student_key(b"pepper", "https://idp.campus.edu", "student-1") and len(key) == 64
    assert "student-1" not in key
    others = {student_key(b"other", "https://idp.campus.edu", "student-1"),
              student_key(b"pepper", "https://other.edu", "student-1"),
              student_key(b"pepper", "https://idp.campus.edu", "student-2")}
    assert key not in others and len(others) == 3
    with pytest.raises(ValueError, match="pepper"):
        student_key(b"", "https://idp.campus.edu", "student-1")
    with pytest.raises(ValueError, match="issuer and subject"):
        student_key(b"pepper", "https://idp.campus.edu", "")


def test_entries_round_trip_oldest_first_and_a_retried_check_in_is_kept_once(table):
    table.add("a", entry(NOW - 2 * DAY, SAD, distress=True))
    table.add("a", entry(NOW - DAY))
    table.add("a", entry(NOW - DAY))  # the same check-in again (a rerun): replaced, not duplicated
    table.add("b", entry(NOW - DAY, SAD))
    found = table.entries("a", now=NOW)
    assert [e.time for e in found] == [NOW - 2 * DAY, NOW - DAY]
    assert found[0].top == "sad" and found[0].flagged and found[0].probabilities == pytest.approx(SAD)
    assert [e.time for e in table.entries("a", since=NOW - 1.5 * DAY, now=NOW)] == [NOW - DAY]
    sort_key = f"checkin#{int((NOW - DAY) * 1000)}#id{int(NOW - DAY)}"
    item = table.client.get_item(TableName=TABLE, Key={"student": {"S": "a"}, "item": {"S": sort_key}})
    assert int(item["Item"]["expires_at"]["N"]) == int(NOW - DAY + 90 * DAY)  # DynamoDB's TTL deletes it then
    assert set(item["Item"]) == {"student", "item", "probabilities", "clear", "help_shown", "expires_at"}


def test_expired_entries_are_not_shown_before_the_ttl_deletes_them(table):
    table.add("a", entry(NOW - 91 * DAY))
    table.add("a", entry(NOW - 89 * DAY))
    assert [e.time for e in table.entries("a", now=NOW)] == [NOW - 89 * DAY]


def test_the_switch_is_off_until_turned_on(table):
    assert not table.is_on("a")
    table.switch("a", True)
    assert table.is_on("a") and not table.is_on("b")
    table.switch("a", False)
    assert not table.is_on("a")


def test_the_notice_read_is_kept_with_the_switch_and_forgotten_with_everything(table):
    assert table.choices("a") == Choices(keep=False, notice=False)
    table.switch("a", True)
    table.accept_notice("a")
    assert table.choices("a") == Choices(keep=True, notice=True)
    table.switch("a", False)  # switching keeps the other choice (the page asks again while it is off)
    assert table.choices("a") == Choices(keep=False, notice=True)
    assert table.delete_all("a") == 1 and table.choices("a") == Choices(keep=False, notice=False)


def test_a_students_choice_never_expires(table):
    table.switch("a", True)
    setting = {"student": {"S": "a"}, "item": {"S": "settings"}}
    assert "expires_at" not in table.client.get_item(TableName=TABLE, Key=setting)["Item"]
    # a choice written 100 days ago, when choices still expired, is kept from now on
    table.client.put_item(TableName=TABLE, Item={**setting, "keep": {"BOOL": True},
                                                 "expires_at": {"N": str(int(NOW - 10 * DAY))}})
    assert table.is_on("a")
    assert "expires_at" not in table.client.get_item(TableName=TABLE, Key=setting)["Item"]


def test_delete_all_removes_every_item_of_one_student_only(table):
    for number in range(60):  # more than one batch of 25
        table.add("a", entry(NOW - number * 3600))
    table.switch("a", True)
    table.add("b", entry(NOW))
    assert table.delete_all("a") == 61
    left = table.client.query(TableName=TABLE, KeyConditionExpression="student = :k",
                              ExpressionAttributeValues={":k": {"S": "a"}})
    assert left["Items"] == [] and not table.is_on("a")
    assert len(table.entries("b", now=NOW)) == 1


def test_a_missing_table_is_named_in_the_error(s3):
    del s3
    with pytest.raises(StorageError, match="journal table nope: query failed"):
        Journal("nope", aws.aws_client("dynamodb"), 90).entries("a")


def test_the_download_has_one_row_per_check_in_and_every_probability():
    rows = list(csv.reader(io.StringIO(journal.to_csv([entry(NOW, SAD, distress=True), entry(NOW + 60)]))))
    assert rows[0] == ["time_utc", "top_expression", "clarity", "help_shown", *EMOTIONS]
    assert rows[1][:4] == ["2026-11-28T12:00:00+00:00", "sad", "clear", "yes"] and rows[1][4 + 4] == "0.7000"
    assert rows[2][1] == "happy" and len(rows) == 3


RULE = RecurringSettings(last=5, min_distress=3, min_days=2, within_days=14)


def test_recurring_distress_appears_and_goes_away_as_the_days_pass():
    history: list[JournalEntry] = []

    def check_in(day: float, hour: int, sad: bool) -> bool:
        """A check-in on that day and hour; then whether the rule holds at that moment."""
        when = NOW + day * DAY + hour * 3600
        history.append(entry(when, SAD if sad else HAPPY, distress=sad))
        return recurring_distress(history, RULE, when)

    assert not check_in(0, 0, sad=True)
    assert not check_in(0, 2, sad=True)  # two hard moments, one day
    assert not check_in(0, 4, sad=True)  # three, but all on one day: not "recurring" yet
    assert check_in(1, 0, sad=True)  # four, over two days: the page offers help first
    assert check_in(1, 2, sad=False)  # still 4 of the last 5
    assert check_in(2, 0, sad=False)  # 3 of the last 5, on 2 days
    assert not check_in(2, 2, sad=False)  # 2 of the last 5: the note goes away
    later = NOW + 30 * DAY  # and so does any pattern older than two weeks
    assert recurring_distress(history[:4], RULE, NOW + DAY)
    assert not recurring_distress(history[:4], RULE, later)


def test_days_are_counted_in_the_campus_time_zone():
    # 23:30 and 00:30 UTC the next day: two days in UTC, one evening in New York
    late = [entry(NOW + 11.5 * 3600, SAD, True), entry(NOW + 12 * 3600, SAD, True),
            entry(NOW + 12.5 * 3600, SAD, True)]
    assert recurring_distress(late, RULE, NOW + DAY, "UTC")
    assert not recurring_distress(late, RULE, NOW + DAY, "America/New_York")


@pytest.mark.parametrize(("changes", "message"), [
    ({"min_distress": 6}, "min_distress must be in [1, 5]"),
    ({"min_days": 4}, "min_days must be in [1, 3]"),
    ({"within_days": 0}, "within_days must be in (0, 366]"),
])
def test_the_rule_settings_are_checked(changes, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace("]", r"\]")):
        RecurringSettings(**{"last": 5, "min_distress": 3, "min_days": 2, "within_days": 14, **changes})


def test_an_item_this_code_never_wrote_is_skipped_and_a_formula_never_reaches_the_csv(table, caplog):
    """Someone with write access to the table forged items: one whose expression is a spreadsheet
    formula, one missing an expression (to_csv raised KeyError). Both are skipped, and said."""
    table.add("a", entry(NOW - DAY, SAD))
    forged = {**{e: {"N": "0.1"} for e in EMOTIONS if e != "happy"}, '=HYPERLINK("http://x","y")': {"N": "0.9"}}
    missing = {e: {"N": "0.1"} for e in EMOTIONS if e != "fear"}
    for number, probabilities in enumerate((forged, missing)):
        table.client.put_item(TableName=TABLE, Item={
            "student": {"S": "a"}, "item": {"S": f"checkin#{int((NOW - 3600 * (number + 1)) * 1000)}#forged{number}"},
            "probabilities": {"M": probabilities}, "clear": {"BOOL": True}, "help_shown": {"BOOL": False},
            "expires_at": {"N": str(int(NOW + DAY))}})
    with caplog.at_level("WARNING"):
        found = table.entries("a", now=NOW)
    assert [e.check_in_id for e in found] == [f"id{int(NOW - DAY)}"]
    assert "skipped 2 malformed item(s)" in caplog.text and '"a"' not in caplog.text
    text = journal.to_csv(found)
    assert "HYPERLINK" not in text and len(list(csv.reader(io.StringIO(text)))) == 2


def test_a_csv_cell_that_would_start_a_formula_is_kept_as_text():
    assert journal.csv_cell("=1+1") == "'=1+1" and journal.csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert journal.csv_cell("-2") == "'-2" and journal.csv_cell("sad") == "sad"
