"""``facemood demo``: the three processes on one machine, wired as on AWS, then the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from facemood import config as cfg
from facemood import refine, storage
from facemood.errors import FaceMoodError, StorageError
from facemood.local import LocalStack, StackSettings

Echo = Callable[[str], None]
APP_DIR = cfg.REPO_ROOT / "app"


class Stage:
    """Prints what a stage does, then how long it took and where its output went."""

    def __init__(self, echo: Echo, title: str) -> None:
        self.echo, self.title, self.started = echo, title, 0.0

    def __enter__(self) -> Stage:
        self.started = time.monotonic()
        self.echo(f"==> {self.title}")
        return self

    def done(self, result: str) -> None:
        """Report the stage's outcome and duration."""
        self.echo(f"    {result} ({time.monotonic() - self.started:.1f} s)")

    def __exit__(self, *exc: Any) -> None:
        return None


def upload_and_refine(stack: LocalStack, data: Path, echo: Echo, timeout: float = 600) -> str:
    """Upload ``data`` to the raw bucket and wait for the relay-triggered Lambda's report."""
    buckets = stack.settings.buckets
    key = f"uploads/{data.name}"
    with Stage(echo, f"Upload {data} to s3://{buckets.raw}/{key}") as stage:
        storage.copy_file_to(f"s3://{buckets.raw}/{key}", data, stack.client, "text/csv")
        etag = stack.client.head_object(Bucket=buckets.raw, Key=key)["ETag"].strip('"')
        stage.done(f"{data.stat().st_size / 1e6:.1f} MB uploaded")
    settings = refine.load_settings()
    data_key, report_key = refine.output_keys(key, etag, settings.output_prefix)
    with Stage(echo, "Augmentation Lambda (triggered by the S3 event relay)") as stage:
        deadline = time.monotonic() + timeout
        while storage.head_object(stack.client, storage.S3Location(buckets.refined, report_key)) is None:
            if time.monotonic() > deadline:
                raise StorageError(f"no report at s3://{buckets.refined}/{report_key} after {timeout:.0f} s")
            time.sleep(0.5)
        report = json.loads(storage.read_bytes(f"s3://{buckets.refined}/{report_key}", stack.client))
        if report["status"] != "complete":
            raise FaceMoodError(f"the augmentation rejected {data.name}: {report['error']}")
        stage.done(f"{report['rows_valid']} valid rows ({report['rejected_count']} rejected) -> "
                   f"{report['rows_written']} rows in s3://{buckets.refined}/{data_key}")
    return f"s3://{buckets.refined}/{data_key}"


def train(stack: LocalStack, data_uri: str, echo: Echo, config_path: str | None = None) -> dict[str, Any]:
    """Run the training task against the local stack and publish to the model bucket."""
    from pipeline.main import run  # pylint: disable=import-outside-toplevel
    from pipeline.settings import load_settings  # pylint: disable=import-outside-toplevel

    path = Path(config_path or stack.settings.demo_pipeline)
    settings = load_settings(path if path.is_absolute() else cfg.REPO_ROOT / path, data_uri)
    with Stage(echo, f"Training task ({path.name}: {settings.training.epochs} epochs)") as stage:
        summary = run(settings, stack.client)
        metrics = next(iter(summary["metrics"].values()))
        stage.done(f"{summary['status']}: validation accuracy {metrics['accuracy']:.3f}, bundle "
                   f"{summary['bundle']}" + ("; models/latest.json now points at it"
                                             if summary["status"] == "accepted" else ""))
    return summary


def app_environment() -> dict[str, str]:
    """The environment the app process needs: this process's (pointed at the local stack) and the config."""
    return {**os.environ, "FACEMOOD_CONFIG_DIR": str(cfg.config_path("").resolve())}


def start_app(port: int, address: str = "127.0.0.1") -> subprocess.Popen:
    """Serve the Streamlit app (its cwd is app/, so app/.streamlit/config.toml applies)."""
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", address, "--server.headless", "true"]
    return subprocess.Popen(command, cwd=APP_DIR, env=app_environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_app(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until Streamlit's health endpoint answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FaceMoodError(f"the app exited: {process.stderr.read().decode()[-500:] if process.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise FaceMoodError(f"the app did not answer at {url} within {timeout:.0f} s")


def run_demo(settings: StackSettings, data: Path | None, echo: Echo, serve: bool = True,
             config_path: str | None = None) -> dict[str, Any]:
    """Stack up; with data, the whole pipeline; then the app until Ctrl-C."""
    stack = LocalStack(settings)
    app = None
    try:
        with Stage(echo, "Local stack: S3 server, buckets, event relay") as stage:
            stack.start()
            seeded = f"; seeded the model bucket with the shipped model {stack.seeded}" if stack.seeded else ""
            stage.done(f"S3 at {stack.endpoint}; buckets {', '.join(vars(settings.buckets).values())}{seeded}")
        summary: dict[str, Any] = {"endpoint": stack.endpoint}
        if data is not None:
            refined = upload_and_refine(stack, data, echo)
            summary["training"] = train(stack, refined, echo, config_path)
        else:
            echo("    No --data given: the app serves the shipped model. To run the whole pipeline, give a "
                 "FER2013 CSV: facemood demo --data fer2013.csv (or make demo DATA=fer2013.csv)")
        if not serve:
            return summary
        url = f"http://localhost:{settings.app_port}"
        with Stage(echo, "Streamlit app") as stage:
            app = start_app(settings.app_port)
            wait_for_app(url, app)
            stack.write_state({"app": url})
            stage.done(f"serving at {url}")
        echo(f"\nOpen {url} in a browser and upload a face photo. Press Ctrl-C to stop everything.")
        while app.poll() is None:
            time.sleep(0.5)
        raise FaceMoodError("the app stopped unexpectedly")
    finally:
        if app is not None and app.poll() is None:
            app.terminate()
            try:
                app.wait(timeout=10)
            except subprocess.TimeoutExpired:
                app.kill()
        stack.stop()
