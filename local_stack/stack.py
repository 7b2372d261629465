"""The local stack in one process: moto's server (S3, DynamoDB, Secrets Manager), the three
buckets, the shipped model seeded into the model bucket, the journal table and its pepper,
(given a handler) the S3 event relay, and (with sign-in) an OpenID Connect test provider."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facemood import bundle, journal, registry, secret_store, storage
from facemood import config as cfg
from facemood.app_settings import LOCAL_FACE_STEP, load_app_settings
from local_stack.event_relay import EventHandler, EventRelay
from local_stack.oidc import LocalProvider, require_oidc_provider, start_oidc_provider
from local_stack.s3_server import S3Server, local_environment, port_is_free, start_s3_server

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackSettings:
    """``config/stack.yaml``."""

    buckets: cfg.Buckets
    host: str
    port: int
    region: str
    seed_store: str  # a folder holding models/latest.json (the repository: the shipped model)
    relay_interval_seconds: float
    app_port: int
    demo_pipeline: str  # the training config `facemood demo --data` runs

    def __post_init__(self) -> None:
        if not self.host.startswith("127.") and self.host not in ("localhost", "::1"):
            raise ValueError("host must be a loopback address")
        cfg.check_range("port", self.port, 0, 65535)
        cfg.check_range("app_port", self.app_port, 1, 65535)
        cfg.check_range("relay_interval_seconds", self.relay_interval_seconds, 0.0, 3600.0, open_low=True)


def load_stack_settings(path: str | Path | None = None) -> StackSettings:
    """Stack settings from ``config/stack.yaml``."""
    return cfg.load(StackSettings, path or cfg.config_path("stack.yaml"))


def seed_model_bucket(client: Any, bucket: str, source: Path) -> str | None:
    """Copy the shipped bundle store at ``source`` into an empty model bucket.

    Returns the seeded run id, or None when the bucket already serves a model or
    ``source`` holds none. Bundle files go first and latest.json last.
    """
    if bundle.read_latest(f"s3://{bucket}", client) is not None:
        return None
    pointer = bundle.read_latest(str(source))
    if pointer is None:
        return None
    folder = source / pointer["bundle"]
    for path in sorted(folder.iterdir()):
        storage.copy_file_to(f"s3://{bucket}/{pointer['bundle'].rstrip('/')}/{path.name}", path, client)
    registry.promote(f"s3://{bucket}", pointer["run_id"], f"the shipped model, copied from {source}",
                     by="local stack", client=client)  # verified before latest.json names it
    return pointer["run_id"]


class LocalStack:
    """The whole local stack in this process. It leaves this process's environment alone:
    its parts get its client, and child processes get :meth:`environment`."""

    def __init__(self, settings: StackSettings, on_raw_object: EventHandler | None = None,
                 sign_in: bool = False, on_refined_report: EventHandler | None = None) -> None:
        self.settings = settings
        self.on_raw_object = on_raw_object
        self.on_refined_report = on_refined_report
        self.sign_in = sign_in
        self.server: S3Server | None = None
        self.relay: EventRelay | None = None
        self.retrain_relay: EventRelay | None = None
        self.provider: LocalProvider | None = None
        self.client: Any = None
        self.seeded: str | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        assert self.server is not None
        return self.server.endpoint

    def start(self) -> LocalStack:
        """Start serving, create the buckets, seed the model, start the relay (given a handler)."""
        settings = self.settings
        if self.sign_in:  # before anything starts: nothing to stop when it is missing
            require_oidc_provider()
        port = settings.port if settings.port and port_is_free(settings.host, settings.port) else 0
        if port == 0 and settings.port:
            log.warning("port %d is taken; using a free port", settings.port)
        self.server = start_s3_server(port, settings.host)
        self.client = self.server.client(settings.region)
        for name in vars(settings.buckets).values():
            storage.ensure_bucket(self.client, name)
        seed = Path(settings.seed_store)
        self.seeded = seed_model_bucket(self.client, settings.buckets.model,
                                        seed if seed.is_absolute() else cfg.REPO_ROOT / seed)
        journal_settings = load_app_settings().journal
        journal.create_table(self.server.client_for("dynamodb", settings.region), journal_settings.table)
        secret_store.ensure_random_secret(self.server.client_for("secretsmanager", settings.region),
                                          journal_settings.pepper_secret)
        if self.on_raw_object is not None:
            self.relay = EventRelay(self.client, settings.buckets.raw, self.on_raw_object,
                                    settings.relay_interval_seconds)
            self.relay.start()
        if self.on_refined_report is not None:  # as the template's RetrainOnNewData rule
            self.retrain_relay = EventRelay(self.client, settings.buckets.refined, self.on_refined_report,
                                            settings.relay_interval_seconds, suffixes=(".report.json",))
            self.retrain_relay.start()
        if self.sign_in:
            self.provider = start_oidc_provider()
        return self

    def environment(self) -> dict[str, str]:
        """The environment a child process (the app, a CLI) needs to use this stack."""
        buckets = self.settings.buckets
        return {**local_environment(self.endpoint, self.settings.region),
                cfg.ENV.RAW_BUCKET: buckets.raw, cfg.ENV.REFINED_BUCKET: buckets.refined,
                cfg.ENV.MODEL_BUCKET: buckets.model, cfg.ENV.MODEL_URI: f"s3://{buckets.model}",
                cfg.ENV.FACE_FUNCTION: LOCAL_FACE_STEP, cfg.ENV.AUTH: "oidc" if self.sign_in else "none"}

    def stop(self) -> None:
        """Stop the relays, the provider and the server."""
        for relay in (self.relay, self.retrain_relay):
            if relay is not None:
                relay.stop()
                relay.join(timeout=10)
        if self.provider is not None:
            self.provider.stop()
        if self.server is not None:
            self.server.stop()
