"""The running local stack's state file: how ``local status`` and ``local down`` find it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from facemood import bundle
from facemood import config as cfg
from facemood.storage import S3Location, list_objects, s3_client
from local_stack.s3_server import LOCAL_CREDENTIALS


def state_file() -> Path:
    """Where a running stack records itself (``FACEMOOD_STATE_FILE`` overrides)."""
    return Path(os.environ.get(cfg.ENV.STATE_FILE) or cfg.REPO_ROOT / ".facemood" / "stack.json")


def write_state(endpoint: str, buckets: cfg.Buckets, extra: dict[str, Any] | None = None) -> None:
    """Record this process's pid, the endpoint and the buckets."""
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"pid": os.getpid(), "endpoint": endpoint, "buckets": vars(buckets), **(extra or {})}
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
    client = s3_client(state["endpoint"], **LOCAL_CREDENTIALS)  # never real credentials
    buckets = {}
    for role, name in state["buckets"].items():
        objects = list_objects(client, S3Location(name))
        buckets[role] = {"bucket": name, "objects": len(objects), "keys": [o["Key"] for o in objects[:20]]}
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
