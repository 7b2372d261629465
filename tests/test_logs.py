"""Logs: one JSON object a line in AWS, with the extra fields; readable text locally."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from facemood.config import REPO_ROOT
from facemood.logs import setup_logging


@pytest.fixture
def restore_root_logger():
    """setup_logging changes the root logger: put it back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_carry_level_logger_message_extras_and_the_exception(capsys):
    setup_logging("INFO", "json")
    log = logging.getLogger("facemood.test")
    log.info("augmented %s", "a.csv", extra={"rows_valid": 3})
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("failed")
    log.debug("not shown")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 2
    assert lines[0]["level"] == "INFO" and lines[0]["message"] == "augmented a.csv"
    assert lines[0]["name"] == "facemood.test" and lines[0]["rows_valid"] == 3 and lines[0]["service"] == "facemood"
    assert lines[1]["level"] == "ERROR" and "ValueError: bad row" in lines[1]["exception"]


@pytest.mark.usefixtures("restore_root_logger")
def test_text_lines_locally(capsys):
    setup_logging("INFO", "text")
    logging.getLogger("facemood.test").warning("port %d is taken", 4566)
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING facemood.test: port 4566 is taken") and not line.startswith("{")


def test_the_page_logs_json_when_asked():
    """The app sets up logging itself: its warnings are JSON lines with FACEMOOD_LOG_FORMAT=json."""
    script = ("import logging, sys; sys.path.insert(0, 'app'); from streamlit.testing.v1 import AppTest; "
              "AppTest.from_file('app/app.py', default_timeout=60).run(); "
              "logging.getLogger('facemood.app').warning('probe')")
    env = {**os.environ, "FACEMOOD_LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                          timeout=120, check=False)
    probe = [line for line in done.stderr.splitlines() if '"probe"' in line]
    assert probe and json.loads(probe[0])["message"] == "probe", done.stderr[-2000:]
