"""The private check-in journal: a signed-in student's own check-ins in DynamoDB.

One partition per student, keyed by a pseudonym (:func:`student_key`, an HMAC of the identity
provider's issuer and subject under a secret pepper): never an e-mail, a name, a photo or a
crop. Each check-in is one item: its time, the seven probabilities, whether the reading was
clear and whether help was shown, and when DynamoDB's TTL may delete it. The same check-in
written twice (a retried rerun) is the same item, never a second one.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from facemood.aws import aws_errors, aws_reason
from facemood.clock import DAY_SECONDS
from facemood.emotions import EMOTIONS
from facemood.errors import StorageError

PARTITION = "student"
SORT = "item"
EXPIRES = "expires_at"  # the table's TTL attribute (epoch seconds)
_ENTRY = "checkin#"  # sort-key prefix of check-ins: the time (ms, 13 digits) then the check-in's id
_SETTINGS = "settings"  # the sort key of the student's journal switch
_BATCH = 25  # DynamoDB's BatchWriteItem limit


log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Choices:
    """What a student chose, kept in their journal's settings item."""

    keep: bool  # the journal is on
    notice: bool  # the notice was read (remembered only while the journal is on)


def student_key(pepper: bytes, issuer: str, subject: str) -> str:
    """The student's pseudonym: HMAC-SHA256 of the provider's issuer and subject under ``pepper``.

    Only the verified identity (the ID token's ``iss`` and ``sub``) goes in: nothing the browser
    sends can name another student's partition, and without the pepper the key cannot be linked
    back to a person.
    """
    if not pepper:
        raise ValueError("the journal's pepper is empty")
    if not issuer or not subject:
        raise ValueError("a journal key needs the identity provider's issuer and subject")
    return hmac.new(pepper, f"{issuer}\n{subject}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class JournalEntry:
    """One check-in as the journal keeps it."""

    time: float  # unix seconds
    check_in_id: str  # unique per check-in; writing it again replaces, never duplicates
    probabilities: dict[str, float]
    clear: bool  # the reading named one expression (not "hard to read")
    flagged: bool  # the distress flag: the page offered the counselling resources (stored as help_shown)

    @property
    def top(self) -> str:
        """The most likely expression."""
        return max(self.probabilities, key=self.probabilities.__getitem__)


class Journal:
    """The journal table, through a boto3 DynamoDB client (moto's server locally)."""

    def __init__(self, table: str, client: Any, retention_days: float) -> None:
        self.table = table
        self.client = client
        self.retention_seconds = retention_days * DAY_SECONDS

    def add(self, key: str, entry: JournalEntry) -> None:
        """Store one check-in; it expires ``retention_days`` after it was made."""
        item = {
            PARTITION: {"S": key},
            SORT: {"S": f"{_ENTRY}{int(entry.time * 1000):013d}#{entry.check_in_id}"},
            "probabilities": {"M": {e: {"N": f"{entry.probabilities[e]:.6f}"} for e in EMOTIONS}},
            "clear": {"BOOL": entry.clear},
            "help_shown": {"BOOL": entry.flagged},
            EXPIRES: {"N": str(int(entry.time + self.retention_seconds))},
        }
        self._call("put_item", TableName=self.table, Item=item)

    def entries(self, key: str, since: float = 0.0, now: float | None = None) -> list[JournalEntry]:
        """The student's check-ins made at or after ``since``, oldest first. Items past their
        expiry are left out even before DynamoDB's TTL deletes them (that can take days)."""
        now = time.time() if now is None else now
        found = []
        skipped = 0
        for item in self._query(key, f"{_ENTRY}{int(since * 1000):013d}", f"{_ENTRY}~"):
            entry = _entry_of(item, now)
            if entry is False:
                skipped += 1
            elif entry is not None:
                found.append(entry)
        if skipped:  # an item this code never wrote: the table was written around it
            log.warning("journal table %s: skipped %d malformed item(s) of a student's journal", self.table, skipped)
        return found

    def is_on(self, key: str) -> bool:
        """Whether the student has switched the journal on (off until they do)."""
        return self.choices(key).keep

    def choices(self, key: str) -> Choices:
        """The student's choices: the journal switch, and whether they have read the notice."""
        item = self._call("get_item", TableName=self.table, Key=self._key(key, _SETTINGS),
                          ConsistentRead=True).get("Item")
        if item and EXPIRES in item:  # written before choices stopped expiring: keep it until changed
            self._call("update_item", TableName=self.table, Key=self._key(key, _SETTINGS),
                       UpdateExpression=f"REMOVE {EXPIRES}")
        item = item or {}
        return Choices(keep=bool(item.get("keep", {}).get("BOOL")), notice=bool(item.get("notice", {}).get("BOOL")))

    def switch(self, key: str, on: bool) -> None:
        """Record the student's choice. It lasts until the student changes it (or deletes
        everything): only check-ins expire with the retention."""
        self._call("update_item", TableName=self.table, Key=self._key(key, _SETTINGS),
                   UpdateExpression="SET keep = :on", ExpressionAttributeValues={":on": {"BOOL": on}})

    def accept_notice(self, key: str) -> None:
        """Record that the student has read the notice, so no device asks again while the journal
        keeps their choices (deleting everything forgets it too)."""
        self._call("update_item", TableName=self.table, Key=self._key(key, _SETTINGS),
                   UpdateExpression="SET notice = :yes", ExpressionAttributeValues={":yes": {"BOOL": True}})

    def delete_all(self, key: str) -> int:
        """Delete every item of the student (check-ins and the switch) now; returns how many.
        Raises StorageError if any is left afterwards."""
        keys = [self._key(key, item[SORT]["S"]) for item in self._query(key, None, None, projection=True)]
        for start in range(0, len(keys), _BATCH):
            requests = {self.table: [{"DeleteRequest": {"Key": k}} for k in keys[start:start + _BATCH]]}
            for _ in range(8):  # DynamoDB may hand back part of a batch when throttled
                requests = self._call("batch_write_item", RequestItems=requests).get("UnprocessedItems") or {}
                if not requests:
                    break
                time.sleep(0.2)
        left = sum(1 for _ in self._query(key, None, None, projection=True))
        if left:
            raise StorageError(f"journal table {self.table}: {left} item(s) were not deleted; try again")
        return len(keys)

    def _key(self, key: str, sort: str) -> dict:
        return {PARTITION: {"S": key}, SORT: {"S": sort}}

    def _query(self, key: str, low: str | None, high: str | None, projection: bool = False) -> Iterator[dict]:
        """Every item of the partition (between two sort keys when given), page by page."""
        condition = f"{PARTITION} = :key" + (f" AND {SORT} BETWEEN :low AND :high" if low else "")
        values = {":key": {"S": key}, **({":low": {"S": low}, ":high": {"S": high}} if low else {})}
        request: dict = {"TableName": self.table, "KeyConditionExpression": condition,
                         "ExpressionAttributeValues": values, "ConsistentRead": True}
        if projection:
            request |= {"ProjectionExpression": "#s", "ExpressionAttributeNames": {"#s": SORT}}
        while True:
            page = self._call("query", **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, operation: str, **request: Any) -> dict:
        """One DynamoDB call; a failure becomes a StorageError naming the table (never the key)."""
        try:
            return getattr(self.client, operation)(**request)
        except aws_errors() as exc:
            why = aws_reason(exc, message=False)  # the service's message may quote the key: left out
            raise StorageError(f"journal table {self.table}: {operation} failed ({why})") from exc


def _entry_of(item: dict[str, Any], now: float) -> JournalEntry | None | bool:
    """The entry an item holds; None when it has expired; False when it is not an item this code
    writes (an expression missing or unknown, a probability that is not a number in [0, 1])."""
    try:
        if int(item[EXPIRES]["N"]) <= now:
            return None
        _, millis, check_in_id = item[SORT]["S"].split("#", 2)
        probabilities = {e: float(v["N"]) for e, v in item["probabilities"]["M"].items()}
        if set(probabilities) != set(EMOTIONS) or not all(0.0 <= p <= 1.0 for p in probabilities.values()):
            return False
        return JournalEntry(int(millis) / 1000, check_in_id, probabilities, bool(item["clear"]["BOOL"]),
                            bool(item["help_shown"]["BOOL"]))
    except (KeyError, ValueError, TypeError, AttributeError):
        return False


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as a formula (OWASP's CSV injection)


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def to_csv(entries: list[JournalEntry]) -> str:
    """The entries as CSV: time (UTC, ISO 8601), the reading, whether help was shown, then one
    column per expression's probability."""
    from datetime import UTC, datetime

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["time_utc", "top_expression", "clarity", "help_shown", *EMOTIONS])
    for entry in entries:
        writer.writerow([datetime.fromtimestamp(entry.time, UTC).isoformat(timespec="seconds"), csv_cell(entry.top),
                         "clear" if entry.clear else "unclear", "yes" if entry.flagged else "no",
                         *(f"{entry.probabilities[e]:.4f}" for e in EMOTIONS)])
    return buffer.getvalue()


def create_table(client: Any, table: str) -> None:
    """Create the journal table as the template does (on-demand, TTL on ``expires_at``); for
    the local stack and tests. An existing table is left as it is."""
    existing = client.list_tables().get("TableNames", [])
    if table in existing:
        return
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": PARTITION, "AttributeType": "S"},
                                              {"AttributeName": SORT, "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": PARTITION, "KeyType": "HASH"},
                                   {"AttributeName": SORT, "KeyType": "RANGE"}])
    client.get_waiter("table_exists").wait(TableName=table)
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES})
