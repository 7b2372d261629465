"""The model store as a registry: which bundles exist, which one is served, and every move.

A store root (a local folder or ``s3://bucket[/prefix]``) holds ``models/<run_id>/`` bundles,
``models/latest.json`` (the served one) and ``models/history/``: one JSON object per move of
``latest.json``, never rewritten (append-only on S3 as on disk). A verified manifest is never
edited either: a bundle's own status says what its training run decided; later, deliberate
moves live in the history.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facemood import bundle, storage
from facemood.clock import utc_timestamp
from facemood.errors import BundleIntegrityError, NotFound, StorageError
from facemood.manifest import Manifest

log = logging.getLogger(__name__)
HISTORY_FOLDER = "history"


@dataclass(frozen=True)
class Move:
    """One move of ``latest.json``: which run became served, which one it replaced, and why."""

    time: str
    run_id: str
    previous_run_id: str | None
    by: str  # "train" or "models promote"
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in ``models/history/``."""
        return {"time": self.time, "run_id": self.run_id, "previous_run_id": self.previous_run_id,
                "by": self.by, "reason": self.reason}


@dataclass
class Entry:
    """One bundle in the store, as ``facemood models list`` shows it."""

    run_id: str
    created: str
    status: str  # what training decided: "accepted" or "rejected"
    reasons: list[str]
    metrics: dict[str, dict[str, float]]
    served: bool = False
    moves: list[Move] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON summary (the CLI prints these)."""
        return {"run_id": self.run_id, "created": self.created, "status": self.status, "reasons": self.reasons,
                "metrics": self.metrics, "served": self.served,
                "promoted": [m.time for m in self.moves]}


def history_uri(root: str) -> str:
    """URI of the ``models/history`` folder under a store root."""
    return bundle.join(root, bundle.MODELS_PREFIX, HISTORY_FOLDER)


def _now() -> str:
    return utc_timestamp()


def record_move(root: str, move: Move, client: Any = None) -> str:
    """Append ``move`` to the history as a new object; returns its URI."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time_ns() % 1_000_000_000:09d}"
    uri = bundle.join(history_uri(root), f"{stamp}-{move.run_id}.json")
    storage.write_bytes(uri, json.dumps(move.to_json(), indent=2).encode(), client, "application/json")
    return uri


def _names(folder_uri: str, client: Any) -> list[str]:
    """Names of the objects (S3) or entries (local) directly under a folder, sorted."""
    location = storage.parse_s3_uri(folder_uri)
    if location is None:
        folder = Path(folder_uri)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    prefix = location.key.rstrip("/") + "/"
    objects = storage.list_objects(client, storage.S3Location(location.bucket, prefix))
    return sorted({o["Key"][len(prefix):].split("/")[0] for o in objects})


def read_history(root: str, client: Any = None) -> list[Move]:
    """Every move of ``latest.json``, oldest first. A record that cannot be read is logged,
    naming its file, and skipped: one bad record must not hide the others."""
    folder = history_uri(root)
    moves = []
    for name in _names(folder, client):
        if not name.endswith(".json"):
            continue
        uri = bundle.join(folder, name)
        try:
            data = json.loads(storage.read_bytes(uri, client))
            moves.append(Move(str(data["time"]), str(data["run_id"]), data.get("previous_run_id"), str(data["by"]),
                              str(data["reason"])))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("skipped the history record %s: %s", uri, _why(exc))
        except StorageError as exc:  # a folder where a record should be, a file that cannot be read
            log.warning("skipped the history record %s: %s", uri, exc)
    return moves


def _why(exc: Exception) -> str:
    """Plain words for what is wrong with a JSON record."""
    if isinstance(exc, KeyError):
        return f"it has no {exc.args[0]!r}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg} at line {exc.lineno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not JSON (not UTF-8 text)"
    return "not a JSON object of the expected form"


def served_run_id(root: str, client: Any = None) -> str | None:
    """The run id ``latest.json`` names, or None when nothing is served."""
    pointer = bundle.read_latest(root, client)
    return None if pointer is None else pointer["run_id"]


def list_models(root: str, client: Any = None) -> list[Entry]:
    """Every bundle under ``root`` with a manifest, oldest first, marked served or not."""
    served = served_run_id(root, client)
    moves = read_history(root, client)
    entries = []
    models = bundle.join(root, bundle.MODELS_PREFIX)
    for name in _names(models, client):
        if name in (bundle.LATEST_NAME, HISTORY_FOLDER):
            continue
        uri = bundle.join(models, name, bundle.MANIFEST_NAME)
        try:
            manifest = Manifest.loads(storage.read_bytes(uri, client), bundle.MANIFEST_NAME)
        except NotFound:
            continue  # an upload in progress or abandoned: no manifest, not a bundle
        except BundleIntegrityError as exc:
            log.warning("the manifest %s cannot be read: %s", uri, exc)
            entries.append(Entry(name, "", "unreadable", [str(exc)], {}, name == served,
                                 [m for m in moves if m.run_id == name]))
            continue
        entries.append(Entry(
            run_id=name, created=manifest.created, status=manifest.status, reasons=manifest.reasons,
            metrics={k: dict(v) for k, v in manifest.metrics.items()}, served=name == served,
            moves=[m for m in moves if m.run_id == name]))
    return sorted(entries, key=lambda e: (e.created, e.run_id))


def promote(root: str, run_id: str, reason: str, by: str = "models promote", client: Any = None) -> Move:
    """Serve bundle ``run_id``: verify it (files, hashes, ONNX), move ``latest.json``, record the move.

    Raises NotFound when there is no such bundle and BundleIntegrityError when it fails
    verification; ``latest.json`` is untouched then.
    """
    bundle.check_run_id(run_id)
    folder = bundle.bundle_uri(root, run_id)
    if not bundle.exists(bundle.join(folder, bundle.MANIFEST_NAME), client):
        raise NotFound(f"no model {run_id} under {bundle.join(root, bundle.MODELS_PREFIX)} "
                       "(`facemood models list` shows them)")
    bundle.open_bundle(bundle.BundleRef(folder, None), client, every_graph=True)  # raises unless every file verifies
    try:
        previous = served_run_id(root, client)
    except (BundleIntegrityError, StorageError):
        previous = None  # a broken pointer is what a promotion repairs
    bundle.point_latest(root, run_id, client)
    move = Move(_now(), run_id, previous, by, reason)
    record_move(root, move, client)
    return move
