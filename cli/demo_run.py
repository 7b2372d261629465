"""``facemood demo``: the three processes on one machine, wired as on AWS, then the app."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.wiring import Retrainer, app_sign_in_secrets, local_stack
from facemood import storage
from facemood.app_settings import load_app_settings
from facemood.augment import load_augment_settings, output_keys
from facemood.errors import InvalidDataset, LocalStackError, StorageError
from local_stack.app_process import AppProcess, start_app
from local_stack.s3_server import free_port, port_is_free
from local_stack.stack import LocalStack, StackSettings
from local_stack.state import write_state

Echo = Callable[[str], None]


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


def upload_and_augment(stack: LocalStack, data: Path, echo: Echo, timeout: float = 600) -> str:
    """Upload ``data`` to the raw bucket and wait for the relay-triggered Lambda's report."""
    buckets = stack.settings.buckets
    key = f"uploads/{data.name}"
    with Stage(echo, f"Upload {data} to s3://{buckets.raw}/{key}") as stage:
        storage.copy_file_to(f"s3://{buckets.raw}/{key}", data, stack.client, "text/csv")
        etag = stack.client.head_object(Bucket=buckets.raw, Key=key)["ETag"].strip('"')
        stage.done(f"{data.stat().st_size / 1e6:.1f} MB uploaded")
    data_key, report_key = output_keys(key, etag, load_augment_settings().output_prefix)
    with Stage(echo, "Augmentation Lambda (triggered by the S3 event relay)") as stage:
        deadline = time.monotonic() + timeout
        while storage.head_object(stack.client, storage.S3Location(buckets.refined, report_key)) is None:
            if time.monotonic() > deadline:
                raise StorageError(f"no report at s3://{buckets.refined}/{report_key} after {timeout:.0f} s")
            time.sleep(0.5)
        report = json.loads(storage.read_bytes(f"s3://{buckets.refined}/{report_key}", stack.client))
        if report["status"] != "complete":
            raise InvalidDataset(f"the augmentation rejected {data.name}: {report['error']}")
        stage.done(f"{report['rows_valid']} valid rows ({report['rejected_count']} rejected) -> "
                   f"{report['rows_written']} rows in s3://{buckets.refined}/{data_key}")
    return f"s3://{buckets.refined}/{data_key}"


def wait_for_training(retrainer: Retrainer, timeout: float = 3600) -> dict[str, Any]:
    """The summary of the training run the new refined file started (through the event relay)."""
    try:
        result = retrainer.results.get(timeout=timeout)
    except queue.Empty as exc:
        raise LocalStackError(f"no training run finished within {timeout:.0f} s of the refined file") from exc
    if isinstance(result, Exception):
        raise result
    return result


# the test provider's own "Authorize" page is unstyled and says nothing of what to type
SIGN_IN_HINT = ("Signing in: on the test provider's \"Authorize\" page, type any name as \"sub\" (for example "
                "alice; each name is its own student with its own journal) and press Authorize.")


def run_demo(settings: StackSettings, data: Path | None, echo: Echo, serve: bool = True,
             config_path: str | None = None, sign_in: bool = False) -> dict[str, Any]:
    """Stack up; with data, the whole event-driven chain (upload -> augmentation -> training,
    each started by the previous one's output, as on AWS with RetrainOnNewData); then the app
    until Ctrl-C, behind the local sign-in provider with ``sign_in``."""
    stack, retrainer = local_stack(settings, echo, retrain=data is not None, sign_in=sign_in,
                                   config_path=config_path)
    app: AppProcess | None = None
    try:
        with Stage(echo, "Local stack: S3, DynamoDB and Secrets Manager (moto), buckets, event relays") as stage:
            stack.start()
            seeded = f"; seeded the model bucket with the shipped model {stack.seeded}" if stack.seeded else ""
            provider = f"; sign-in provider at {stack.provider.issuer}" if stack.provider else ""
            stage.done(f"moto at {stack.endpoint}; buckets {', '.join(vars(settings.buckets).values())}"
                       f"{seeded}{provider}")
        summary: dict[str, Any] = {"endpoint": stack.endpoint}
        if data is not None:
            upload_and_augment(stack, data, echo)
            summary["training"] = wait_for_training(retrainer)
        else:
            echo("    No --data given: the app serves the shipped model. To run the whole pipeline, give a "
                 "FER2013 CSV: facemood demo --data fer2013.csv (or make demo DATA=fer2013.csv)")
        if not serve:
            return summary
        with Stage(echo, "Streamlit app") as stage:
            port = app_port(settings.app_port, echo)
            url = f"http://127.0.0.1:{port}"  # the address the app binds, and sign-in's redirect
            app = start_app(port, stack.environment(), secrets_file=app_sign_in_secrets(stack, url))
            app.wait_ready()
            write_state(stack.endpoint, settings.buckets, {"app": url})
            stage.done(f"serving at {url} (its log: {app.log_path})")
        for problem in load_app_settings().problems():  # say it here, not only in the app's log
            echo(f"    Note: hidden from students until config/app.yaml is filled in: {problem}")
        echo(f"\nOpen {url} in a browser and upload a face photo. Press Ctrl-C to stop everything.")
        if stack.provider:
            echo(SIGN_IN_HINT)
        while app.process.poll() is None:
            time.sleep(0.5)
        raise LocalStackError(f"the app stopped unexpectedly: {app.log_tail()}")
    finally:
        if app is not None:
            app.stop()
        stack.stop()


def app_port(wanted: int, echo: Echo, host: str = "127.0.0.1") -> int:
    """``wanted`` when it is free, else a free port (and say so: another program holds ``wanted``)."""
    if port_is_free(host, wanted):
        return wanted
    port = free_port(host)
    echo(f"    port {wanted} is taken by another program (see: ss -ltnp 'sport = :{wanted}'); using {port}")
    return port
