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


def records(event: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(bucket, unquoted key, version id) of every S3 record in ``event``."""
    found = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        obj = s3.get("object", {})
        found.append((s3.get("bucket", {}).get("name", ""), unquote_plus(obj.get("key", "")), obj.get("versionId")))
    return found


def handler(event: dict[str, Any], _context: Any = None, client: Any = None,
            settings: augment.AugmentSettings | None = None) -> dict[str, Any]:
    """Process every record; a failing record is logged and, after the others ran, the first
    failure is re-raised so that Lambda retries the event (finished records are idempotent)."""
    if client is None or settings is None:
        default_settings, default_client = dependencies()
        client, settings = client or default_client, settings or default_settings
    results, failures = [], []
    for bucket, key, version in records(event):
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
