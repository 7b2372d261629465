"""Plays S3's event notifications: polls a bucket and delivers a genuine ``ObjectCreated``
event for each new object to a handler, as AWS delivers it to the augmentation Lambda."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from facemood import storage
from facemood.augment import CSV_SUFFIXES
from local_stack.s3_server import LOOPBACK

log = logging.getLogger(__name__)
# Called as handler(event, client) for each new object, as Lambda calls the augmentation handler.
EventHandler = Callable[[dict[str, Any], Any], Any]


def s3_event(bucket: str, key: str, etag: str, size: int, region: str = "us-east-1") -> dict[str, Any]:
    """A genuine S3 ``ObjectCreated:Put`` notification, key URL-encoded as S3 sends it."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": LOOPBACK},
        "responseElements": {"x-amz-request-id": "local", "x-amz-id-2": "local"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "facemood-local-relay",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "local"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"'),
                          "sequencer": f"{time.time_ns():X}"}},
    }]}


class EventRelay(threading.Thread):
    """Polls ``bucket`` and calls ``handler`` with an event per new object.

    Each (key, ETag) is delivered once per relay; the handler is idempotent anyway, so a
    restarted relay that delivers an old object again rewrites the same outputs.
    """

    def __init__(self, client: Any, bucket: str, handler: EventHandler, interval: float,
                 suffixes: tuple[str, ...] = CSV_SUFFIXES) -> None:
        super().__init__(name="s3-event-relay", daemon=True)
        self.client, self.bucket, self.handler = client, bucket, handler
        self.interval, self.suffixes = interval, suffixes
        self._stop_event = threading.Event()
        self._seen: set[tuple[str, str]] = set()

    def poll_once(self) -> int:
        """Deliver events for objects not seen yet; returns how many were delivered."""
        count = 0
        for obj in storage.list_objects(self.client, storage.S3Location(self.bucket)):
            marker = (obj["Key"], obj["ETag"])
            if marker in self._seen or not obj["Key"].lower().endswith(self.suffixes):
                continue
            self._seen.add(marker)
            try:
                started = time.monotonic()
                self.handler(s3_event(self.bucket, obj["Key"], obj["ETag"], obj["Size"]), self.client)
                log.info("delivered s3:ObjectCreated for s3://%s/%s (%.1f s)", self.bucket, obj["Key"],
                         time.monotonic() - started)
            except Exception:  # pylint: disable=broad-except
                # As Lambda would: the failure is logged; the raw object stays for a retry.
                log.exception("the augmentation handler failed on s3://%s/%s", self.bucket, obj["Key"])
            count += 1
        return count

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception:  # pylint: disable=broad-except
                log.exception("event relay: polling s3://%s failed", self.bucket)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Stop polling (the current delivery finishes)."""
        self._stop_event.set()
