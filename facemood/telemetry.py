"""Operational metrics as CloudWatch Embedded Metric Format lines, built with AWS Lambda
Powertools' metrics (no API call on the hot path: CloudWatch extracts them from the log stream).

The lines go to stderr, which Lambda, ECS (awslogs) and the local app's log file all capture,
so a command's stdout keeps only its results. Counts, rates and latencies only, with the served
model's run id as a dimension: never a photo, a crop, a probability of a person, or anything
that identifies a student.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facemood.checkin import CheckIn

SERVICE_APP = "app"
SERVICE_AUGMENT = "augment"
SERVICE_TRAINING = "training"


def _metrics(namespace: str, service: str):
    """A metric set of its own (Powertools' ``Metrics`` shares one across a process; the app
    serves many sessions on threads, so each event gets an ``EphemeralMetrics``)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    return EphemeralMetrics(namespace=namespace, service=service)


def _emit(metrics: Any) -> None:
    """Write the metric set as one EMF line to stderr."""
    sys.stderr.write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")) + "\n")
    sys.stderr.flush()
    metrics.clear_metrics()


def record_check_in(namespace: str, outcome: CheckIn, model_run_id: str) -> None:
    """One EMF line for a check-in: faces, no face, unclear readings, distress shown, latencies."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _metrics(namespace, SERVICE_APP)
    metrics.add_dimension("ModelRunId", model_run_id)
    metrics.add_metric("CheckIns", MetricUnit.Count, 1)
    metrics.add_metric("FacesFound", MetricUnit.Count, outcome.faces_found)
    metrics.add_metric("NoFace", MetricUnit.Count, int(not outcome.readings))
    metrics.add_metric("UnclearReadings", MetricUnit.Count, sum(not r.clear for r in outcome.readings))
    metrics.add_metric("DistressShown", MetricUnit.Count, int(any(r.flagged for r in outcome.readings)))
    metrics.add_metric("FaceStepLatency", MetricUnit.Milliseconds, round(1000 * outcome.face_seconds, 2))
    metrics.add_metric("ModelLatency", MetricUnit.Milliseconds, round(1000 * outcome.model_seconds, 2))
    _emit(metrics)


def record_error(namespace: str, kind: str) -> None:
    """One EMF line for a check-in that failed, by kind (e.g. ``InvalidImage``, ``FaceStepError``)."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _metrics(namespace, SERVICE_APP)
    metrics.add_dimension("ErrorKind", kind)
    metrics.add_metric("Errors", MetricUnit.Count, 1)
    _emit(metrics)


def record_augmentation(namespace: str, rows_valid: int, rows_rejected: int, rows_written: int, status: str) -> None:
    """One EMF line per augmented file: rows in, valid, rejected and written; files that failed."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _metrics(namespace, SERVICE_AUGMENT)
    metrics.add_metric("RowsIn", MetricUnit.Count, rows_valid + rows_rejected)
    metrics.add_metric("RowsRejected", MetricUnit.Count, rows_rejected)
    metrics.add_metric("RowsWritten", MetricUnit.Count, rows_written)
    metrics.add_metric("FilesFailed", MetricUnit.Count, int(status != "complete"))
    _emit(metrics)


def record_training(namespace: str, accuracy: float, macro_f1: float, promoted: bool) -> None:
    """One EMF line per training run: its validation accuracy and macro-F1 (%), promoted or not."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = _metrics(namespace, SERVICE_TRAINING)
    metrics.add_metric("ValidationAccuracy", MetricUnit.Percent, round(100 * accuracy, 2))
    metrics.add_metric("ValidationMacroF1", MetricUnit.Percent, round(100 * macro_f1, 2))
    metrics.add_metric("Promoted", MetricUnit.Count, int(promoted))
    _emit(metrics)
