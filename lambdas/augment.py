"""S3-triggered Lambda: each raw CSV that lands is validated, augmented and refined.

An adapter only: unpack every record of the S3 event, call the core, return a summary.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import unquote_plus

from facemood import augment, storage, telemetry
from facemood.errors import FaceMoodError
from facemood.logs import setup_logging

log = logging.getLogger("facemood.lambda.augment")


@functools.cache
def dependencies() -> tuple[augment.AugmentSettings, Any]:
    """Logging, the settings and the S3 client, made on the first event (importing does nothing)."""
    setup_logging()
    return augment.load_augment_settings(), storage.s3_client()


def records(event: Any) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """(bucket, unquoted key, version id) of every well-formed S3 record in ``event``, and why
    each other part of it is not one (an event that is not an S3 notification at all included)."""
    found, refused = [], []
    listed = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(listed, list):
        return [], [f"not an S3 event: expected an object with a list of Records, got {type(event).__name__}"
                    + (f" with Records {type(listed).__name__}" if isinstance(event, dict) else "")]
    for number, record in enumerate(listed, start=1):
        s3 = record.get("s3") if isinstance(record, dict) else None
        bucket = s3.get("bucket") if isinstance(s3, dict) else None
        obj = s3.get("object") if isinstance(s3, dict) else None
        name = bucket.get("name") if isinstance(bucket, dict) else None
        key = obj.get("key") if isinstance(obj, dict) else None
        version = obj.get("versionId") if isinstance(obj, dict) else None
        if not isinstance(name, str) or not isinstance(key, str) or not name or not key:
            refused.append(f"record {number}: not an S3 record with a bucket name and an object key")
            continue
        found.append((name, unquote_plus(key), version if isinstance(version, str) else None))
    if not listed:
        refused.append("an S3 event with no records")
    return found, refused


def handler(event: Any, _context: Any = None, client: Any = None,
            settings: augment.AugmentSettings | None = None) -> dict[str, Any]:
    """Process every record; a failing record is logged and, after the others ran, the first
    failure is re-raised so that Lambda retries the event (finished records are idempotent)."""
    if client is None or settings is None:
        default_settings, default_client = dependencies()
        client, settings = client or default_client, settings or default_settings
    results, failures = [], []
    found, malformed = records(event)
    for reason in malformed:  # refused, not retried: the same event would fail the same way
        log.warning("refused: %s", reason)
        results.append({"status": "refused", "reason": reason})
    for bucket, key, version in found:
        if bucket != settings.buckets.raw:  # only the raw bucket feeds training data
            reason = f"bucket {bucket!r} is not the raw bucket {settings.buckets.raw!r}"
            log.warning("refused: %s", reason, extra={"bucket": bucket, "key": key})
            results.append({"key": key, "status": "refused", "reason": reason})
            continue
        if not augment.is_csv_key(key):
            log.info("skipped: not a .csv or .csv.gz key", extra={"bucket": bucket, "key": key})
            results.append({"key": key, "status": "skipped", "reason": "not a .csv or .csv.gz key"})
            continue
        try:
            report = augment.augment_s3_object(client, settings, bucket, key, version)
            telemetry.record_augmentation(settings.metrics_namespace, report.rows_valid, report.rejected_count,
                                          report.rows_written, report.status)
            results.append({"key": key, "status": report.status, "output": report.output,
                            "rows_written": report.rows_written, "rejected": report.rejected_count})
        except FaceMoodError as exc:
            log.error("failed", extra={"bucket": bucket, "key": key, "error": str(exc)})
            failures.append(exc)
            results.append({"key": key, "status": "error", "error": str(exc)})
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a defect: still one record's failure
            log.exception("failed unexpectedly", extra={"bucket": bucket, "key": key})
            failures.append(exc)
            results.append({"key": key, "status": "error", "error": f"unexpected {type(exc).__name__}"})
    if failures:
        raise failures[0]
    return {"results": results}
