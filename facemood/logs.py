"""Logging: one JSON object a line in AWS (Lambda, ECS), readable text locally."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from facemood.config import ENV

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; ``extra=`` fields are kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def running_in_aws() -> bool:
    """True inside Lambda or ECS, where CloudWatch wants one JSON object a line."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("ECS_CONTAINER_METADATA_URI_V4"))


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger once: JSON in AWS (or FACEMOOD_LOG_FORMAT=json), text otherwise."""
    level = (level or os.environ.get(ENV.LOG_LEVEL) or "INFO").upper()
    fmt = fmt or os.environ.get(ENV.LOG_FORMAT) or ("json" if running_in_aws() else "text")
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "matplotlib", "PIL", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
