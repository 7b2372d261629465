"""Whether a run is served: the quality gate, the comparison with the served model on the same
faces (champion and challenger), and the outcome in plain words."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from facemood import bundle
from facemood.errors import BundleIntegrityError, StorageError
from facemood.faceset import FaceSet
from facemood.metrics import classification_metrics
from pipeline.settings import PipelineSettings

log = logging.getLogger(__name__)


def apply_gate(settings: PipelineSettings, validation: dict[str, Any]) -> dict[str, Any]:
    """Check the quality gate against the validation metrics."""
    gate = settings.gate
    reasons = []
    if validation["accuracy"] < gate.min_validation_accuracy:
        reasons.append(f"validation accuracy {validation['accuracy']:.4f} < {gate.min_validation_accuracy}")
    if validation["macro_f1"] < gate.min_macro_f1:
        reasons.append(f"validation macro-F1 {validation['macro_f1']:.4f} < {gate.min_macro_f1}")
    return {"passed": not reasons, "reasons": reasons, "thresholds": asdict(gate)}


def compare_with_served(settings: PipelineSettings, client: Any, validation: FaceSet,
                        metrics: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the served model on this run's validation rows and compare (champion and challenger).

    Returns the served run id, its metrics on the same rows and the reasons this run falls short
    (none when it is at least as good, within ``gate.served_margin``, or nothing is served).
    """
    root = settings.output_uri
    try:
        served = bundle.load_bundle(root, client, settings.training.threads)
    except StorageError:
        return {"served_run_id": None, "reasons": []}  # nothing published yet: the gate alone decides
    except BundleIntegrityError as exc:
        log.warning("the served model fails verification (%s): comparing against nothing", exc)
        return {"served_run_id": None, "reasons": [], "served_error": str(exc)}
    theirs = classification_metrics(validation.labels, served.predict_proba(validation.pixels))
    margin, rows = settings.gate.served_margin, len(validation)
    reasons = [f"{label} {metrics[key]:.1%} vs served {theirs[key]:.1%} on the same {rows} faces"
               for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
               if metrics[key] < theirs[key] - margin]
    return {"served_run_id": served.run_id, "served": {"accuracy": theirs["accuracy"], "macro_f1": theirs["macro_f1"]},
            "rows": rows, "margin": margin, "reasons": reasons}


def describe(summary: dict[str, Any]) -> str:
    """What a run's outcome means, in plain words (the demo and ``facemood train`` say it)."""
    mine = summary["validation"]["accuracy"]
    served = summary["champion"].get("served")
    if summary["status"] == "accepted":
        replaced = f", replacing the served model ({served['accuracy']:.1%} on the same faces)" if served else ""
        return f"your model reached {mine:.1%} and is now served{replaced}."
    why = "; ".join(summary["gate"]["reasons"] + summary["champion"]["reasons"])
    stays = (f"the served model ({served['accuracy']:.1%} on the same faces) stays" if served
             else "nothing is served")
    return (f"your model reached {mine:.1%} and was not promoted ({why}); {stays}; "
            f"`facemood models promote {summary['run_id']}` would serve yours anyway.")
