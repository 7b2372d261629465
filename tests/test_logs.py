"""Logs: one JSON object a line in AWS, with the extra fields; readable text locally."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from facemood.config import ENV, REPO_ROOT
from facemood.logs import JsonLines, setup_logging
from local_stack.s3_server import free_port


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


def test_other_programs_lines_become_json_with_their_level():
    to_json = JsonLines("streamlit")
    lines = [
        "",
        "  You can now view your Streamlit app in your browser.",
        "WARNING streamlit.web.server.starlette.starlette_auth_routes: Missing provider for OAuth callback; this "
        "often indicates a stale or replayed callback",
        "/usr/lib/python3/site-packages/authlib/jose/__init__.py:14: AuthlibDeprecationWarning: authlib.jose "
        "module is deprecated, please use joserfc instead.",
        "  from authlib.jose import JsonWebKey",
        '{"level": "INFO", "message": "already JSON"}',
        "URL: http://0.0.0.0:8501",
    ]
    shown = [json.loads(line) for line in map(to_json, lines) if line is not None]
    assert [(s["level"], s.get("name")) for s in shown] == [
        ("INFO", "streamlit"), ("WARNING", "streamlit.web.server.starlette.starlette_auth_routes"),
        ("WARNING", "py.warnings"), ("WARNING", "py.warnings"), ("INFO", None), ("INFO", "streamlit")]
    assert shown[1]["message"].startswith("Missing provider for OAuth callback")
    assert shown[2]["message"].startswith("AuthlibDeprecationWarning: authlib.jose module is deprecated")
    assert shown[4] == {"level": "INFO", "message": "already JSON"}


@pytest.mark.integration
def test_in_aws_every_line_the_page_writes_is_json(tmp_path):
    port = free_port()
    env = {**os.environ, "FACEMOOD_LOG_FORMAT": "json", ENV.CONFIG_DIR: str(REPO_ROOT / "config")}
    # pylint: disable-next=consider-using-with  # stopped below, as ECS stops the container
    page = subprocess.Popen([sys.executable, "-m", "cli", "page", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        page.send_signal(signal.SIGTERM)
        _, err = page.communicate(timeout=30)
    finally:
        page.kill()
    lines = [json.loads(line) for line in err.splitlines()]  # each line parses, or this fails
    assert any("You can now view your Streamlit app" in line["message"] for line in lines), err[-2000:]
    assert all({"level", "message", "timestamp", "service"} <= set(line) for line in lines), err[-2000:]
