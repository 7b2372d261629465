"""A run's data and name: which refined file it trains on, the fingerprint of what it read, its id."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from facemood import storage
from facemood.augment import is_csv_key
from facemood.clock import RUN_ID_FORMAT
from facemood.errors import TrainingError
from facemood.faceset import FaceSet
from pipeline.settings import PipelineSettings


def resolve_data_uri(settings: PipelineSettings, client: Any) -> str:
    """The configured data URI, or the newest refined CSV in the refined bucket."""
    if settings.data.uri:
        return settings.data.uri
    prefix = storage.S3Location(settings.buckets.refined, settings.data.refined_prefix)
    candidates = [o for o in storage.list_objects(client, prefix) if is_csv_key(o["Key"])]
    if not candidates:
        raise TrainingError(f"no refined data under {prefix.uri}: upload a CSV to the raw bucket first, "
                            "or pass --data URI")
    newest = max(candidates, key=lambda o: (o["LastModified"], o["Key"]))
    return storage.S3Location(settings.buckets.refined, newest["Key"]).uri


def fingerprint(faces: FaceSet) -> str:
    """sha256 over the pixels, labels and splits: identifies the training data exactly."""
    digest = hashlib.sha256(faces.pixels.tobytes())
    digest.update(faces.labels.astype(np.int64).tobytes())
    if faces.usage is not None:
        digest.update("\n".join(faces.usage.tolist()).encode())
    return digest.hexdigest()


def new_run_id(data_fingerprint: str) -> str:
    """A sortable, unique run id: UTC time plus a short hash."""
    stamp = time.strftime(RUN_ID_FORMAT, time.gmtime())
    return f"{stamp}-{hashlib.sha256(f'{stamp}{data_fingerprint}{time.time_ns()}'.encode()).hexdigest()[:6]}"
