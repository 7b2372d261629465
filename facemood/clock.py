"""Time as the project writes it: one day in seconds, and UTC timestamps in one format."""

from __future__ import annotations

import time

DAY_SECONDS = 86_400
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # manifests, latest.json, the promotion history
RUN_ID_FORMAT = "%Y%m%d-%H%M%S"    # the time part of a run id


def utc_timestamp(seconds: float | None = None) -> str:
    """``seconds`` since the epoch (default: now) as ``2026-11-29T21:25:26Z``."""
    return time.strftime(UTC_FORMAT, time.gmtime(seconds))
