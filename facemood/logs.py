"""Logging: one JSON object a line in AWS (Lambda, ECS; AWS Lambda Powertools' formatter), readable
text locally."""

from __future__ import annotations

import logging
import os
import sys

from facemood.config import ENV


def json_formatter() -> logging.Formatter:
    """Powertools' JSON formatter: level, message, time, where, the logger's name, every ``extra=``
    field and, for an exception, its traceback, one object a line."""
    from aws_lambda_powertools.logging.formatter import (
        LambdaPowertoolsFormatter,
    )

    return LambdaPowertoolsFormatter(service="facemood", name="%(name)s", utc=True)  # name: the logger


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
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.facemood = True  # type: ignore[attr-defined]  # ours: replaced on the next call, others are kept
    for existing in list(root.handlers):
        if getattr(existing, "facemood", False) or type(existing) is logging.StreamHandler:  # pylint: disable=unidiomatic-typecheck
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "matplotlib", "PIL", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
