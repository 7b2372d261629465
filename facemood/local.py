"""The local stack: a real S3-compatible server (moto) on loopback, the three buckets,
the shipped model seeded into the model bucket, and an event relay that plays S3's part
in AWS: it delivers genuine S3 ObjectCreated events to the augmentation handler."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from facemood import bundle, storage
from facemood import config as cfg
from facemood.config import ENV

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
# moto accepts any credentials; real ones must never reach the local server.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
def state_file() -> Path:
    """Where a running stack records itself (``FACEMOOD_STATE_FILE`` overrides)."""
    return Path(os.environ.get(ENV.STATE_FILE) or cfg.REPO_ROOT / ".facemood" / "stack.json")


@dataclass(frozen=True)
class StackBuckets:
    """The three buckets of the architecture."""

    raw: str
    refined: str
    model: str


@dataclass(frozen=True)
class StackSettings:
    """``config/stack.yaml``."""

    buckets: StackBuckets
    host: str = LOOPBACK
    port: int = 4566
    region: str = "us-east-1"
    seed_store: str = "."  # a folder holding models/latest.json (the repository: the shipped model)
    relay_interval_seconds: float = 1.0
    app_port: int = 8501
    demo_pipeline: str = "config/pipeline-demo.yaml"

    def __post_init__(self) -> None:
        if not self.host.startswith("127.") and self.host not in ("localhost", "::1"):
            raise ValueError("host must be a loopback address")


def load_stack_settings(path: str | Path | None = None) -> StackSettings:
    """Stack settings from ``config/stack.yaml``."""
    return cfg.load(StackSettings, path or cfg.config_path("stack.yaml"))


@dataclass
class S3Server:
    """A running moto server and the endpoint that reaches it."""

    server: Any
    endpoint: str

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; gives up waiting after ``timeout`` (the thread is a daemon)."""
        stopper = threading.Thread(target=self.server.stop, daemon=True)
        stopper.start()
        stopper.join(timeout)

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def port_is_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be bound now."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_s3_server(port: int = 0, host: str = LOOPBACK) -> S3Server:
    """Start moto's S3 server in a background thread on ``host:port`` (0: any free port)."""
    from moto.server import ThreadedMotoServer  # pylint: disable=import-outside-toplevel

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    log.info("S3 server (moto) listening on %s", endpoint)
    return S3Server(server, endpoint)


def point_environment_at(endpoint: str, region: str = "us-east-1") -> None:
    """Point boto3 in this process (and children) at the local server with dummy credentials."""
    os.environ[ENV.ENDPOINT] = endpoint
    os.environ[ENV.REGION] = region
    os.environ.update(LOCAL_CREDENTIALS)


def s3_event(bucket: str, key: str, etag: str, size: int, region: str = "us-east-1") -> dict[str, Any]:
    """A genuine S3 ``ObjectCreated:Put`` notification, key URL-encoded as S3 sends it."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": LOOPBACK},
        "responseElements": {"x-amz-request-id": "local", "x-amz-id-2": "local"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "facemood-local-relay",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "local"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"'),
                          "sequencer": f"{time.time_ns():X}"}},
    }]}


class EventRelay(threading.Thread):
    """Plays S3's notification wiring: polls a bucket and delivers an event per new object.

    Each (key, ETag) is delivered once per relay; the handler is idempotent anyway, so a
    restarted relay that delivers an old object again rewrites the same outputs.
    """

    def __init__(self, client: Any, bucket: str, deliver: Callable[[dict[str, Any]], Any], interval: float,
                 suffixes: tuple[str, ...] = (".csv", ".csv.gz")) -> None:
        super().__init__(name="s3-event-relay", daemon=True)
        self.client, self.bucket, self.deliver = client, bucket, deliver
        self.interval, self.suffixes = interval, suffixes
        self._stop_event = threading.Event()
        self._seen: set[tuple[str, str]] = set()
        self.delivered = 0
        self.busy = threading.Event()

    def poll_once(self) -> int:
        """Deliver events for objects not seen yet; returns how many were delivered."""
        count = 0
        for obj in storage.list_objects(self.client, storage.S3Location(self.bucket)):
            marker = (obj["Key"], obj["ETag"])
            if marker in self._seen or not obj["Key"].lower().endswith(self.suffixes):
                continue
            self._seen.add(marker)
            self.busy.set()
            try:
                started = time.monotonic()
                self.deliver(s3_event(self.bucket, obj["Key"], obj["ETag"], obj["Size"]))
                log.info("delivered s3:ObjectCreated for s3://%s/%s (%.1f s)", self.bucket, obj["Key"],
                         time.monotonic() - started)
            except Exception:  # pylint: disable=broad-except
                # As Lambda would: the failure is logged; the raw object stays for a retry.
                log.exception("the augmentation handler failed on s3://%s/%s", self.bucket, obj["Key"])
            finally:
                self.busy.clear()
            self.delivered += 1
            count += 1
        return count

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception:  # pylint: disable=broad-except
                log.exception("event relay: polling s3://%s failed", self.bucket)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Stop polling (the current delivery finishes)."""
        self._stop_event.set()


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
    bundle.load_bundle(f"s3://{bucket}/{pointer['bundle']}", client)  # verify before pointing at it
    bundle.point_latest(f"s3://{bucket}", pointer["run_id"], client)
    return pointer["run_id"]


class LocalStack:
    """The whole local stack in this process: S3 server, buckets, seeded model, event relay."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.server: S3Server | None = None
        self.relay: EventRelay | None = None
        self.client: Any = None
        self.seeded: str | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        assert self.server is not None
        return self.server.endpoint

    def start(self, relay: bool = True) -> LocalStack:
        """Start serving; set this process's environment so every part uses the local stack."""
        settings = self.settings
        port = settings.port if settings.port and port_is_free(settings.host, settings.port) else 0
        if port == 0 and settings.port:
            log.warning("port %d is taken; using a free port", settings.port)
        self.server = start_s3_server(port, settings.host)
        point_environment_at(self.server.endpoint, settings.region)
        os.environ[ENV.RAW_BUCKET] = settings.buckets.raw
        os.environ[ENV.REFINED_BUCKET] = settings.buckets.refined
        os.environ[ENV.MODEL_BUCKET] = settings.buckets.model
        os.environ[ENV.MODEL_URI] = f"s3://{settings.buckets.model}"
        os.environ[ENV.FACE_FUNCTION] = "local"
        self.client = storage.s3_client(self.server.endpoint, settings.region)
        for name in (settings.buckets.raw, settings.buckets.refined, settings.buckets.model):
            storage.ensure_bucket(self.client, name)
        seed = Path(settings.seed_store)
        self.seeded = seed_model_bucket(self.client, settings.buckets.model,
                                        seed if seed.is_absolute() else cfg.REPO_ROOT / seed)
        if relay:
            from facemood import refine  # pylint: disable=import-outside-toplevel
            from preprocessing_lambda import augment  # pylint: disable=import-outside-toplevel

            refine_settings = refine.load_settings()
            self.relay = EventRelay(self.client, settings.buckets.raw,
                                    lambda event: augment.handler(event, None, self.client, refine_settings),
                                    settings.relay_interval_seconds)
            self.relay.start()
        return self

    def stop(self) -> None:
        """Stop the relay and the server."""
        if self.relay is not None:
            self.relay.stop()
            self.relay.join(timeout=10)
        if self.server is not None:
            self.server.stop()

    def write_state(self, extra: dict[str, Any] | None = None) -> None:
        """Record the endpoint and pid so ``local status`` and ``local down`` find this stack."""
        path = state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"pid": os.getpid(), "endpoint": self.endpoint, "buckets": vars(self.settings.buckets), **(extra or {})}
        path.write_text(json.dumps(state, indent=2), encoding="utf-8")


def read_state() -> dict[str, Any] | None:
    """The running stack's state, or None when none is running."""
    try:
        state = json.loads(state_file().read_text(encoding="utf-8"))
        return state if _alive(state["pid"]) else None
    except (FileNotFoundError, ProcessLookupError, json.JSONDecodeError, KeyError):
        return None


def status(state: dict[str, Any]) -> dict[str, Any]:
    """What the running stack holds: objects per bucket, the latest model."""
    point_environment_at(state["endpoint"])  # the local server's dummy credentials, never real ones
    client = storage.s3_client(state["endpoint"])
    buckets = {}
    for role, name in state["buckets"].items():
        objects = storage.list_objects(client, storage.S3Location(name))
        buckets[role] = {"bucket": name, "objects": len(objects),
                         "keys": [o["Key"] for o in objects[:20]]}
    latest = bundle.read_latest(f"s3://{state['buckets']['model']}", client)
    return {"running": True, "pid": state["pid"], "endpoint": state["endpoint"], "buckets": buckets,
            "latest_model": latest, "app": state.get("app")}


def stop_running(state: dict[str, Any], timeout: float = 20.0) -> bool:
    """Ask the running stack to stop (SIGTERM, handled like Ctrl-C); True when it is gone."""
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(state["pid"]):
            return True
        time.sleep(0.2)
    return False


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (an exited process its parent has not reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    proc = Path(f"/proc/{pid}/status")
    return not (proc.exists() and "State:\tZ" in proc.read_text(encoding="ascii"))
