"""The Streamlit app as a child process, as the ECS service runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from facemood import config as cfg
from facemood.errors import LocalStackError

APP_DIR = cfg.REPO_ROOT / "app"


def start_app(port: int, environment: dict[str, str] | None = None, address: str = "127.0.0.1") -> subprocess.Popen:
    """Serve the app on ``port`` with this process's environment plus ``environment``.

    Its working directory is app/, so app/.streamlit/config.toml applies.
    """
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", address, "--server.headless", "true"]
    env = {**os.environ, cfg.ENV.CONFIG_DIR: str(cfg.config_path("").resolve()), **(environment or {})}
    return subprocess.Popen(command, cwd=APP_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_app(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until Streamlit's health endpoint answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode()[-500:] if process.stderr else ""
            raise LocalStackError(f"the app exited: {stderr}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise LocalStackError(f"the app did not answer at {url} within {timeout:.0f} s")


def stop_app(process: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate the app, killing it if it does not exit within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
