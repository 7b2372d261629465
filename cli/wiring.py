"""How the deployables plug into the local stack: the composition root's wiring helpers."""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from facemood import config as cfg
from facemood import storage
from facemood.augment import load_augment_settings
from facemood.config import Buckets
from local_stack.event_relay import EventHandler
from local_stack.stack import LocalStack, StackSettings
from local_stack.state import state_file

log = logging.getLogger(__name__)
REPORT_SUFFIX = ".report.json"


def augment_handler(buckets: Buckets) -> EventHandler:
    """The augmentation Lambda's handler, called as Lambda calls it, on the stack's ``buckets``."""
    from lambdas import augment as augment_lambda

    settings = replace(load_augment_settings(), buckets=buckets)
    return lambda event, client: augment_lambda.handler(event, None, client, settings)


class Retrainer:
    """The template's RetrainOnNewData rule, locally: each new refined report starts the training
    task on the refined file it describes (``config_path``), publishing to the model bucket, where
    promotion is gated. Each run's summary (or the error) is put on :attr:`results`."""

    def __init__(self, buckets: Buckets, config_path: str,
                 announce: Callable[[str], None] = lambda text: log.info("%s", text)) -> None:
        self.buckets, self.config_path, self.announce = buckets, config_path, announce
        self.results: queue.Queue[dict[str, Any] | Exception] = queue.Queue()

    def __call__(self, event: dict[str, Any], client: Any) -> None:
        from pipeline.main import run
        from pipeline.promotion import describe
        from pipeline.settings import load_pipeline_settings

        key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
        try:
            report = json.loads(storage.read_bytes(f"s3://{self.buckets.refined}/{key}", client))
            if report.get("status") != "complete":
                self.announce(f"    not retraining: s3://{self.buckets.refined}/{key} says {report.get('status')}")
                return
            data_uri = f"s3://{self.buckets.refined}/{key.removesuffix(REPORT_SUFFIX)}.csv.gz"
            path = Path(self.config_path)
            settings = load_pipeline_settings(path if path.is_absolute() else cfg.REPO_ROOT / path, data_uri)
            settings = replace(settings, buckets=self.buckets)
            self.announce(f"==> Training task, started by the new refined file {data_uri} "
                          f"({path.name}: {settings.training.epochs} epochs)")
            summary = run(settings, client)
            self.announce(f"    {summary['status']}: {describe(summary)} Bundle: {summary['bundle']}")
            self.results.put(summary)
        except Exception as exc:  # pylint: disable=broad-except
            # As ECS would: the task fails and says why; the served model stays.
            log.exception("the training task started by s3://%s/%s failed", self.buckets.refined, key)
            self.results.put(exc)


def local_stack(settings: StackSettings, echo: Callable[[str], None], *, retrain: bool, sign_in: bool,
                config_path: str | None = None) -> tuple[LocalStack, Retrainer]:
    """The local stack as `facemood local up` and the demo wire it (not started): genuine S3 events
    of raw uploads go to the augmentation handler; with ``retrain``, each refined report starts a
    training run (``config_path``, else the stack's demo config), as RetrainOnNewData does on AWS."""
    retrainer = Retrainer(settings.buckets, config_path or settings.demo_pipeline, echo)
    stack = LocalStack(settings, augment_handler(settings.buckets), sign_in=sign_in,
                       on_refined_report=retrainer if retrain else None)
    return stack, retrainer


def app_sign_in_secrets(stack: LocalStack, app_url: str) -> Path | None:
    """Streamlit's [auth] settings for an app at ``app_url`` signing in through the stack's test
    provider (beside the state file); None when the stack has no provider."""
    if stack.provider is None:
        return None
    return stack.provider.secrets_for(app_url).write(state_file().parent / "secrets.toml")
