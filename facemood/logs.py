"""Logging: one JSON object a line in AWS (Lambda, ECS; AWS Lambda Powertools' formatter), readable
text locally."""

from __future__ import annotations

import json
import logging
import os
import re
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


def log_format() -> str:
    """"json" in AWS or with FACEMOOD_LOG_FORMAT=json, else "text" (or what that variable says)."""
    return os.environ.get(ENV.LOG_FORMAT) or ("json" if running_in_aws() else "text")


def setup_logging(level: str | None = None, fmt: str | None = None) -> None:
    """Configure the root logger once: JSON in AWS (or FACEMOOD_LOG_FORMAT=json), text otherwise.
    Python's warnings go through it too."""
    level = (level or os.environ.get(ENV.LOG_LEVEL) or "INFO").upper()
    fmt = fmt or log_format()
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


# How Streamlit writes a log line once its format is PAGE_LOG_FORMAT, and how Python writes a warning.
PAGE_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
_LEVELLED = re.compile(r"^(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<name>[\w.]+): (?P<message>.*)$")
_WARNING = re.compile(r"^(?P<where>\S+:\d+): (?P<category>\w+): (?P<message>.*)$")


class JsonLines:
    """Turns the lines another program writes (Streamlit's banner and its own loggers, Python's
    warnings, a traceback) into JSON log lines like this package's own: a line that is one already
    passes through; a levelled line keeps its level and logger; a warning is a WARNING of
    ``py.warnings``; an indented line (a traceback's, a warning's source) keeps the level before it."""

    def __init__(self, default_name: str) -> None:
        self._formatter = json_formatter()
        self._default_name = default_name
        self._level = logging.INFO
        self._name = default_name

    def __call__(self, line: str) -> str | None:
        """The JSON line for ``line`` (None for an empty one)."""
        text = line.rstrip("\r\n")
        if not text.strip():
            return None
        if text.startswith("{"):
            try:
                json.loads(text)
                return text
            except ValueError:
                pass
        message = text
        if (levelled := _LEVELLED.match(text)) is not None:
            self._level, self._name = logging.getLevelName(levelled["level"]), levelled["name"]
            message = levelled["message"]
        elif (warning := _WARNING.match(text)) is not None and warning["category"].endswith("Warning"):
            self._level, self._name = logging.WARNING, "py.warnings"
            message = f"{warning['category']}: {warning['message']} ({warning['where']})"
        elif not text[:1].isspace():
            self._level, self._name = logging.INFO, self._default_name
        record = logging.LogRecord(self._name, self._level, "", 0, message.strip(), None, None)
        return self._formatter.format(record)
