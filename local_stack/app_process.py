"""The Streamlit app as a child process, as the ECS service runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from facemood import config as cfg
from facemood.errors import LocalStackError

APP_DIR = cfg.REPO_ROOT / "app"
LOG_TAIL_BYTES = 2000


@dataclass
class AppProcess:
    """A running app: its process, its URL and the log its output goes to."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until Streamlit's health endpoint answers; raise with the log's tail if it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalStackError(f"the app exited (log: {self.log_path}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise LocalStackError(f"the app did not answer at {self.url} within {timeout:.0f} s (log: {self.log_path})")

    def log_tail(self) -> str:
        """The end of the app's log."""
        data = self.log_path.read_bytes()
        return data[-LOG_TAIL_BYTES:].decode(errors="replace").strip()

    def stop(self, timeout: float = 10) -> None:
        """Terminate the app, killing it if it does not exit within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_app(port: int, environment: dict[str, str] | None = None, log_path: Path | None = None,
              address: str = "127.0.0.1", secrets_file: Path | None = None) -> AppProcess:
    """Serve the app on ``port`` with this process's environment plus ``environment``.

    Its output goes to ``log_path`` (default ``.facemood/app.log`` beside the stack's state),
    never to a pipe nobody reads, which would fill and block the app. Its working directory
    is app/, so app/.streamlit/config.toml applies. ``secrets_file``: Streamlit's secrets (the
    sign-in's ``[auth]`` section), read from there instead of its default places.
    """
    from local_stack.state import state_file

    log_path = log_path or state_file().parent / "app.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", address, "--server.headless", "true"]
    if secrets_file is not None:
        command += ["--secrets.files", str(secrets_file)]
    env = {**os.environ, cfg.ENV.CONFIG_DIR: str(cfg.config_path("").resolve()), **(environment or {})}
    with open(log_path, "ab") as log:  # the child writes through its own copy of the descriptor
        # pylint: disable-next=consider-using-with  # the AppProcess stops it
        process = subprocess.Popen(command, cwd=APP_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    return AppProcess(process, f"http://{address}:{port}", log_path)
