"""The model bundle's contract: ``manifest.json``, typed. The one place that reads and writes it.

A bundle's manifest says what the bundle is (run id, format version, labels, the input and output
of its graph), which files it holds with their sha256 (it is written last, so a bundle without it
is incomplete), and what serving needs besides the graph: the photo calibration, the distress rule
and the first pass. Those are typed here (:class:`Manifest`); what the run recorded for people to
read (its gate and champion decision, data, training, configuration, calibration figures and each
entry's own figures) stays as written, in :attr:`Manifest.record`.

Every manifest goes through :meth:`Manifest.from_json`: the pipeline's before it is written, a
store's when a bundle is opened or listed. Bundles written before a key existed still load: each
entry's reader gives the meaning it had then (a distress rule without ``combine`` is ``sum``, a
person split without ``across_folders`` split each folder on its own).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from facemood.distress import DistressRule, read_distress_rule
from facemood.emotions import EMOTIONS, IMAGE_SIDE
from facemood.errors import BundleIntegrityError
from facemood.first_pass import FirstPassEntry, read_first_pass
from facemood.photo_calibration import PhotoCalibration, read_photo_calibration

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
PHOTO_STAGE_KEY = "photo_finetune"
PHOTO_REPORT_KEY = "photo_report"
INPUT_SPEC = {
    "name": "faces",
    "shape": [None, 1, IMAGE_SIDE, IMAGE_SIDE],
    "dtype": "float32",
    "scale": "grayscale pixel / 255, in [0, 1]",
    "preprocessing": "facemood.faces: detect, crop with margin, grayscale, resize to 48x48",
}
OUTPUT_SPEC = {"name": "probabilities", "shape": [None, len(EMOTIONS)], "labels": list(EMOTIONS)}


@dataclass(frozen=True)
class FileRecord:
    """One file of the bundle: its sha256 and size."""

    sha256: str
    bytes: int


@dataclass(frozen=True)
class PhotoSplit:
    """How the real photos' persons were split into train, tune and report parts: each folder's
    fractions and the seed; ``across_folders``: one split over every folder (a person's part drawn
    with the first folder listed that holds them), else each folder on its own (bundles before)."""

    seed: int
    folders: Mapping[str, tuple[float, ...]]
    across_folders: bool = False


@dataclass(frozen=True)
class PhotoStage:
    """The real-photo stage a bundle had: its person split and how many tune photos it kept."""

    split: PhotoSplit
    tune_photos: int


@dataclass(frozen=True)
class PhotoReport:
    """How the bundle reads real photos of people it has never seen (its report persons, read as
    the page reads them), measured once when it was written: what the page tells a student."""

    photos: int
    persons: int
    accuracy: float
    macro_f1: float
    flag_precision: float | None = None  # None: the bundle carries no distress rule
    flag_recall: float | None = None


@dataclass(frozen=True)
class Manifest:
    """A bundle's manifest: the typed contract, and the run's record as written."""

    run_id: str
    status: str  # "accepted" (passed the gate and the champion rule) or "rejected"
    format_version: int
    files: Mapping[str, FileRecord]
    metrics: Mapping[str, Mapping[str, float]]  # split name -> accuracy, macro_f1 (as the graph reads FER2013)
    photo_stage: PhotoStage | None = None
    photo_calibration: PhotoCalibration | None = None
    distress_rule: DistressRule | None = None  # None: the app's policy applies its fallback
    first_pass: FirstPassEntry | None = None
    photo_report: PhotoReport | None = None  # absent in bundles before 2026-12-07
    record: Mapping[str, Any] = field(default_factory=dict)  # the whole manifest as written

    @classmethod
    def from_json(cls, data: Any, where: str = MANIFEST_NAME) -> Manifest:
        """The manifest a parsed ``manifest.json`` holds; BundleIntegrityError naming ``where``
        and the key when it is not one (a newer format included)."""
        if not isinstance(data, dict):
            raise BundleIntegrityError(f"{where} is not a valid manifest: not a JSON object")
        try:
            metrics = _metrics(data.get("metrics") or {})
            version = int(data["format_version"])
            files = {str(name): FileRecord(str(entry["sha256"]), int(entry["bytes"]))
                     for name, entry in dict(data["files"]).items()}
            run_id, status = str(data["run_id"]), str(data.get("status", "unknown"))
            photo_stage, photo_report = _photo_stage(data), _photo_report(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleIntegrityError(f"{where} is not a valid manifest: {_missing(exc)}") from exc
        if version > FORMAT_VERSION:
            raise BundleIntegrityError(f"{where} has bundle format {version}; this code reads up to "
                                       f"{FORMAT_VERSION}: upgrade facemood")
        # each serving entry's own reader checks it and names it when it is not valid
        return cls(run_id, status, version, files, metrics, photo_stage, read_photo_calibration(data),
                   read_distress_rule(data), read_first_pass(data), photo_report, data)

    @classmethod
    def loads(cls, payload: bytes, where: str = MANIFEST_NAME) -> Manifest:
        """:meth:`from_json` of ``manifest.json``'s bytes."""
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleIntegrityError(f"{where} is not a valid manifest: not JSON ({exc})") from exc
        return cls.from_json(data, where)

    @classmethod
    def for_run(cls, run_id: str, entries: Mapping[str, Any], files: Mapping[str, FileRecord]) -> Manifest:
        """A new bundle's manifest: the run's ``entries`` (status, metrics, gate, champion, data,
        training, config, calibration and the serving entries, as the pipeline records them)
        with the format version, labels, the graph's input and output and the files' hashes."""
        data = {"format_version": FORMAT_VERSION, "run_id": run_id, "labels": list(EMOTIONS),
                "input": INPUT_SPEC, "output": OUTPUT_SPEC, **entries,
                "files": {name: {"sha256": f.sha256, "bytes": f.bytes} for name, f in sorted(files.items())}}
        return cls.from_json(json.loads(json.dumps(data)), f"the manifest of {run_id}")

    def to_bytes(self) -> bytes:
        """``manifest.json`` as written: sorted keys, indented (its sha256 is what ``latest.json`` names)."""
        return json.dumps(self.record, indent=2, sort_keys=True).encode()

    def section(self, key: str) -> Mapping[str, Any]:
        """A recorded section (``gate``, ``champion``, ``data``, ``training``, ``config``,
        ``calibration`` or a serving entry's figures) as written; empty when absent."""
        value = self.record.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def created(self) -> str:
        """When the run wrote the bundle (UTC, ISO 8601)."""
        return str(self.record.get("created", ""))

    @property
    def validation_name(self) -> str:
        """The FER2013 split the run selected and gated on (PublicTest)."""
        return str(self.section("data").get("validation_name", ""))

    @property
    def reasons(self) -> list[str]:
        """Why the run was rejected: the gate's and the champion rule's reasons."""
        return [str(r) for r in list(self.section("gate").get("reasons", []))
                + list(self.section("champion").get("reasons", []))]


def _photo_stage(data: dict[str, Any]) -> PhotoStage | None:
    stage = data.get(PHOTO_STAGE_KEY)
    if not stage:
        return None
    split = stage["split"]
    folders = {str(name): tuple(float(f) for f in fractions) for name, fractions in dict(split["folders"]).items()}
    return PhotoStage(PhotoSplit(int(split["seed"]), folders, bool(split.get("across_folders", False))),
                      int(stage.get("tune_photos", 0)))


def _photo_report(data: dict[str, Any]) -> PhotoReport | None:
    entry = data.get(PHOTO_REPORT_KEY)
    if not entry:
        return None

    def share(key: str) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{PHOTO_REPORT_KEY}.{key} must be a share in [0, 1], got {value}")
        return float(value)

    accuracy, macro_f1 = share("accuracy"), share("macro_f1")
    if accuracy is None or macro_f1 is None:
        raise ValueError(f"{PHOTO_REPORT_KEY} needs accuracy and macro_f1")
    return PhotoReport(int(entry["photos"]), int(entry["persons"]), accuracy, macro_f1, share("flag_precision"),
                       share("flag_recall"))


def _metrics(metrics: Any) -> dict[str, dict[str, float]]:
    """Each split's accuracy and macro-F1, checked to be finite numbers."""
    kept = {}
    for name, figures in dict(metrics).items():
        values = {k: figures.get(k) for k in ("accuracy", "macro_f1")} if isinstance(figures, dict) else {}
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                 for v in values.values()):
            raise ValueError(f"the {name} metrics are not numbers")
        kept[str(name)] = {k: float(v) for k, v in values.items()}
    return kept


def _missing(exc: Exception) -> str:
    return f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
