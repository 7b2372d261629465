"""The augmentation step: raw FER2013 CSV in, refined CSV (gzip) and a JSON report out.

"Augment" names the step (its command, config and Lambda); "refined" names what it writes
(the refined bucket, its ``refined/`` prefix).

Streams batch by batch: validate, pass evaluation rows through unchanged, augment
Training rows (all rows without a Usage column), write. The same function serves the
S3-triggered Lambda and ``facemood augment`` on local files.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from isal import igzip

from facemood import config as cfg
from facemood import dataset, storage
from facemood.emotions import EMOTIONS, TRAINING
from facemood.errors import InvalidDataset, StorageError
from facemood.transforms import TransformSettings, augmented_copies

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".csv.gz")  # the handler takes these in any case
# The spellings S3 triggers the Lambda on (its suffix filters are case-sensitive; infra/template.yaml
# lists the same four). A key such as data.Csv is processed only when its event is sent by hand.
TRIGGER_SUFFIXES = (".csv", ".csv.gz", ".CSV", ".CSV.GZ")
ORIGINAL = dataset.ORIGINAL
MAX_REPORTED_REJECTIONS = 10_000


@dataclass(frozen=True)
class AugmentSettings:
    """``config/augment.yaml``: the augmentation step's buckets, output layout and transforms."""

    buckets: cfg.Buckets
    output_prefix: str
    batch_rows: int
    gzip_level: int
    transforms: TransformSettings
    limits: dataset.TextLimits
    metrics_namespace: str  # CloudWatch namespace of the per-file EMF metrics

    def __post_init__(self) -> None:
        if not 0 <= self.gzip_level <= 3:
            raise ValueError("gzip_level must be in 0..3 (ISA-L levels)")
        if self.batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")


def load_augment_settings(path: str | Path | None = None) -> AugmentSettings:
    """Settings from ``config/augment.yaml``; bucket names overridable by environment."""
    return cfg.load(AugmentSettings, path or cfg.config_path("augment.yaml"), overrides=cfg.BUCKET_OVERRIDES)


# one attribute per field of the report JSON it writes
@dataclass
class Report:  # pylint: disable=too-many-instance-attributes
    """What one run did; written as JSON beside the output."""

    input: dict[str, Any]
    status: str = "complete"  # complete | no_valid_rows | invalid_file
    error: str | None = None
    output: str | None = None
    rows_read: int = 0
    rows_valid: int = 0
    rows_written: int = 0
    by_split: dict[str, dict[str, int]] = field(default_factory=dict)
    written_by_augmentation: dict[str, int] = field(default_factory=dict)
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    augmentation: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The report as pretty JSON."""
        return json.dumps(asdict(self), indent=2).encode()


def _count(report: Report, batch: dataset.Batch) -> None:
    splits = batch.usage if batch.usage is not None else np.full(len(batch), "all")
    for (split, label), n in Counter(zip(splits.tolist(), batch.labels.tolist())).items():
        per = report.by_split.setdefault(split, {name: 0 for name in EMOTIONS})
        per[EMOTIONS[label]] += n


def augment_stream(source: IO[bytes], sink: IO[bytes] | None, settings: AugmentSettings, report: Report,
                   compress: bool = True) -> Report:
    """Read ``source``, write the refined CSV (gzip unless not ``compress``) to ``sink``; fill in ``report``.

    ``sink`` may be None to validate only. Raises InvalidDataset for a file that is not
    FER2013 at all; rejected rows are listed in the report, never dropped silently.
    """
    started = time.monotonic()
    aug = settings.transforms
    report.augmentation = {**asdict(aug), "copy_name": aug.copy_name()}
    gz = sink
    if sink is not None and compress:
        # ISA-L's gzip is about 4x faster than zlib at level 1, with a smaller output.
        gz = igzip.IGzipFile(fileobj=sink, mode="wb", compresslevel=settings.gzip_level, mtime=0)
    header_written = False
    spent: Counter[str] = Counter()
    for index, batch in enumerate(dataset.read_batches(source, settings.batch_rows, settings.limits)):
        t0 = time.monotonic()
        _record(report, batch)
        if len(batch) == 0:
            continue
        chunks = _refined_rows(batch, aug, index, report, spent)
        if gz is not None:
            if not header_written:
                gz.write(dataset.csv_header(batch.usage is not None, refined=True))
                header_written = True
            t2 = time.monotonic()
            for chunk in chunks:
                gz.write(chunk)
            spent["compress_write_s"] += time.monotonic() - t2
        spent["batch_s"] += time.monotonic() - t0
    if gz is not None and gz is not sink:
        gz.close()
    report.rows_written = sum(report.written_by_augmentation.values())
    if report.rows_valid == 0:
        report.status = "no_valid_rows"
        report.error = (f"no valid rows: all {report.rejected_count} data rows were rejected"
                        if report.rejected_count else "no data rows after the header")
    report.timings = {k: round(v, 3) for k, v in spent.items()}
    report.timings["total_s"] = round(time.monotonic() - started, 3)
    return report


def _record(report: Report, batch: dataset.Batch) -> None:
    """Count a batch's rows, valid and rejected, in the report; refuse a file already refined."""
    report.rows_read += len(batch) + len(batch.rejections)
    report.rows_valid += len(batch)
    report.rejected_count += len(batch.rejections)
    room = MAX_REPORTED_REJECTIONS - len(report.rejected)
    report.rejected.extend({"line": r.line, "reason": r.reason} for r in batch.rejections[:max(room, 0)])
    if batch.augmentation is not None:
        raise InvalidDataset("the file is already refined (it has augmentation and source columns): augmenting "
                             "it again would make copies of copies. Upload the raw FER2013 CSV, or train on "
                             "this file directly (facemood train --data URI)")
    if len(batch):
        _count(report, batch)


def _refined_rows(batch: dataset.Batch, aug: TransformSettings, index: int, report: Report,
                  spent: Counter[str]) -> list[bytes]:
    """The refined CSV text of a batch: every row as it came, then the augmented copies of its
    Training rows (all rows without a Usage column)."""
    has_usage = batch.usage is not None
    augmentable = batch.usage == TRAINING if has_usage else np.ones(len(batch), bool)
    usage = batch.usage.tolist() if has_usage else None
    source_ids = batch.source.tolist()
    chunks = [_rows(batch.labels, batch.pixels, usage, [ORIGINAL] * len(batch), source_ids)]
    report.written_by_augmentation[ORIGINAL] = report.written_by_augmentation.get(ORIGINAL, 0) + len(batch)
    if not aug.copies or not augmentable.any():
        return chunks
    picked = np.flatnonzero(augmentable)
    t1 = time.monotonic()
    copies = augmented_copies(batch.pixels[picked], aug, index)
    spent["augment_s"] += time.monotonic() - t1
    sub_usage = [usage[i] for i in picked] if usage else None
    sub_source = [source_ids[i] for i in picked]
    copy_name = aug.copy_name()
    for copy in copies:
        chunks.append(_rows(batch.labels[picked], copy, sub_usage, [copy_name] * len(picked), sub_source))
    report.written_by_augmentation[copy_name] = (
        report.written_by_augmentation.get(copy_name, 0) + len(picked) * len(copies))
    return chunks


def _rows(labels: np.ndarray, pixels: np.ndarray, usage: list[str] | None, names: list[str],
          source: list[int]) -> bytes:
    if usage is None:
        tail = [f"{n},{s}" for n, s in zip(names, source)]
    else:
        tail = [f"{u},{n},{s}" for u, n, s in zip(usage, names, source)]
    return dataset.format_rows(labels, pixels, tail)


# --- S3 ------------------------------------------------------------------------------

def is_csv_key(key: str) -> bool:
    """True for keys the augmentation step processes (``.csv`` and ``.csv.gz``)."""
    return key.lower().endswith(CSV_SUFFIXES)


def output_keys(key: str, tag: str, prefix: str) -> tuple[str, str]:
    """(refined data key, report key) for input ``key`` at version/ETag ``tag``.

    Derived only from the input, so a retried event writes the same keys.
    """
    stem = re.sub(r"\.csv(\.gz)?$", "", key, flags=re.IGNORECASE)
    safe_tag = re.sub(r"[^A-Za-z0-9_.-]", "", tag)[:64] or "untagged"
    base = f"{prefix.rstrip('/')}/{stem}.{safe_tag}" if prefix else f"{stem}.{safe_tag}"
    return f"{base}.csv.gz", f"{base}.report.json"


def augment_s3_object(client: Any, settings: AugmentSettings, bucket: str, key: str,
                     version_id: str | None = None) -> Report:
    """Process one raw object and write its refined CSV and report to the refined bucket.

    Idempotent: the output keys derive from the key and the object's version (or ETag);
    an object already processed is not processed again. Never writes to ``bucket``.
    """
    if bucket == settings.buckets.refined:
        raise StorageError(f"refusing to write into the bucket that triggered the event ({bucket})")
    location = storage.S3Location(bucket, key)
    extra = {"VersionId": version_id} if version_id and version_id != "null" else {}
    source = storage.get_object(client, location, **extra)
    etag = source.get("ETag", "").strip('"')
    tag = extra.get("VersionId") or etag
    data_key, report_key = output_keys(key, tag, settings.output_prefix)
    refined = storage.S3Location(settings.buckets.refined, data_key)
    report_location = storage.S3Location(settings.buckets.refined, report_key)
    previous = storage.head_object(client, report_location)
    if previous is not None:
        source["Body"].close()
        log.info("already processed", extra={"input": location.uri, "report": report_location.uri})
        return Report(**json.loads(storage.read_bytes(report_location.uri, client)))
    report = Report(input={"uri": location.uri, "etag": etag, "version_id": extra.get("VersionId"),
                           "bytes": source.get("ContentLength")})
    body = source["Body"]
    ahead = storage.ReadAhead(body)  # the download overlaps the work, as the upload does (storage.open_write)
    try:
        with storage.open_write(refined.uri, client, "application/gzip") as sink:
            augment_stream(ahead, sink, settings, report)
            if report.rows_valid == 0:
                raise _NothingToWrite()
        report.output = refined.uri
    except _NothingToWrite:
        log.warning("no valid rows", extra={"input": location.uri, "rejected": report.rejected_count})
    except InvalidDataset as exc:
        report.status, report.error = "invalid_file", str(exc)
        log.warning("invalid file", extra={"input": location.uri, "error": str(exc)})
    finally:
        ahead.close()
        body.close()
    storage.write_bytes(report_location.uri, report.to_json(), client, "application/json")
    log.info("augmented", extra={"input": location.uri, "output": report.output, "status": report.status,
                               "rows_valid": report.rows_valid, "rows_written": report.rows_written,
                               "rejected": report.rejected_count})
    return report


class _NothingToWrite(Exception):
    """Raised inside the writer to discard an output that would hold no rows."""


def augment_file(source: str, target: str, settings: AugmentSettings) -> Report:
    """``facemood augment IN OUT``: the same step on local files (OUT gets gzip if it ends .gz).
    An OUT that is IN (the same file, however named) is refused: writing it would destroy the input."""
    if storage.parse_s3_uri(source) is None and storage.parse_s3_uri(target) is None and \
            Path(source).resolve() == Path(target).resolve():
        raise StorageError(f"the output {target} is the input {source}: name another file (the input is kept)")
    report = Report(input={"uri": source})
    with storage.open_uri(source) as stream:
        try:
            with storage.open_write(target) as sink:
                augment_stream(stream, sink, settings, report, compress=target.endswith(".gz"))
                if report.rows_valid == 0:
                    raise _NothingToWrite()
            report.output = target
        except _NothingToWrite:
            pass
    return report
