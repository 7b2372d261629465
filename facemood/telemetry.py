"""Operational metrics as CloudWatch Embedded Metric Format lines, written with AWS Lambda
Powertools' metrics (no API call on the hot path: CloudWatch extracts them from the log stream).

Counts and latencies only, with the served model's run id as a dimension: never a photo, a
crop, a probability of a person, or anything that identifies a student.
"""

from __future__ import annotations

from facemood.checkin import CheckIn

SERVICE_APP = "app"


def _metrics(namespace: str, service: str):
    """A metric set of its own (Powertools' ``Metrics`` shares one across a process; the app
    serves many sessions on threads, so each event gets an ``EphemeralMetrics``)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics  # pylint: disable=import-outside-toplevel

    return EphemeralMetrics(namespace=namespace, service=service)


def record_check_in(namespace: str, outcome: CheckIn, model_run_id: str) -> None:
    """One EMF line for a check-in: faces, no face, unclear readings, distress shown, latencies."""
    from aws_lambda_powertools.metrics import MetricUnit  # pylint: disable=import-outside-toplevel

    metrics = _metrics(namespace, SERVICE_APP)
    metrics.add_dimension("ModelRunId", model_run_id)
    metrics.add_metric("CheckIns", MetricUnit.Count, 1)
    metrics.add_metric("FacesFound", MetricUnit.Count, outcome.faces_found)
    metrics.add_metric("NoFace", MetricUnit.Count, int(not outcome.results))
    metrics.add_metric("UnclearReadings", MetricUnit.Count, sum(not r.clear for r in outcome.results))
    metrics.add_metric("DistressShown", MetricUnit.Count, int(any(r.distress for r in outcome.results)))
    metrics.add_metric("FaceStepLatency", MetricUnit.Milliseconds, round(1000 * outcome.face_seconds, 2))
    metrics.add_metric("ModelLatency", MetricUnit.Milliseconds, round(1000 * outcome.model_seconds, 2))
    metrics.flush_metrics()


def record_error(namespace: str, kind: str) -> None:
    """One EMF line for a check-in that failed, by kind (e.g. ``InvalidImage``, ``FaceStepError``)."""
    from aws_lambda_powertools.metrics import MetricUnit  # pylint: disable=import-outside-toplevel

    metrics = _metrics(namespace, SERVICE_APP)
    metrics.add_dimension("ErrorKind", kind)
    metrics.add_metric("Errors", MetricUnit.Count, 1)
    metrics.flush_metrics()
