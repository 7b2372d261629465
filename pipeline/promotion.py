"""Whether a run is served: the quality gate, the comparison with the served model on the same
faces (champion and challenger), and the outcome in plain words."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from facemood import bundle
from facemood.errors import BundleIntegrityError, StorageError
from facemood.faceset import FaceSet
from pipeline.scores import classification_scores
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


def compare_with_served(settings: PipelineSettings, client: Any, validation: FaceSet, metrics: dict[str, Any],
                        photos: FaceSet | None = None, photo_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the served model on this run's validation rows (and on its tune photos, when the
    run has real photos) and compare (champion and challenger).

    Returns the served run id, its metrics on the same rows and the reasons this run falls short
    (none when it is at least as good, within ``gate.served_margin`` on the validation rows and
    ``gate.served_photo_margin`` on the photos, or nothing is served).
    """
    root = settings.output_uri
    try:
        served = bundle.load_bundle(root, client, settings.training.threads)
    except StorageError:
        return {"served_run_id": None, "reasons": []}  # nothing published yet: the gate alone decides
    except BundleIntegrityError as exc:
        log.warning("the served model fails verification (%s): comparing against nothing", exc)
        return {"served_run_id": None, "reasons": [], "served_error": str(exc)}
    theirs = classification_scores(validation.labels, served.predict_proba(validation.pixels))
    margin, rows = settings.gate.served_margin, len(validation)
    reasons = shortfalls(metrics, theirs, margin, f"the same {rows} faces")
    outcome = {"served_run_id": served.run_id,
               "served": {"accuracy": theirs["accuracy"], "macro_f1": theirs["macro_f1"]},
               "rows": rows, "margin": margin, "reasons": reasons}
    if photos is not None and photo_metrics is not None and len(photos):
        # real photos weigh too: a model that gives up a little FER2013 for much better readings
        # of real people is the better one, one that reads real people worse is not
        theirs_photos = classification_scores(photos.labels, served.predict_proba(photos.pixels))
        photo_margin = settings.gate.served_photo_margin
        reasons += shortfalls(photo_metrics, theirs_photos, photo_margin, f"the same {len(photos)} tune photos")
        outcome["photos"] = {"rows": len(photos), "margin": photo_margin,
                             "mine": {"accuracy": photo_metrics["accuracy"], "macro_f1": photo_metrics["macro_f1"]},
                             "served": {"accuracy": theirs_photos["accuracy"], "macro_f1": theirs_photos["macro_f1"]}}
    return outcome


def shortfalls(mine: dict[str, Any], theirs: dict[str, Any], margin: float, where: str) -> list[str]:
    """Where ``mine`` trails ``theirs`` by more than ``margin``, in words."""
    return [f"{label} {mine[key]:.1%} vs served {theirs[key]:.1%} on {where}"
            for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")) if mine[key] < theirs[key] - margin]


def describe(summary: dict[str, Any]) -> str:
    """What a run's outcome means, in plain words (the demo and ``facemood train`` say it)."""
    mine = summary["validation"]["accuracy"]
    served = summary["champion"].get("served")
    if summary["status"] == "accepted":
        replaced = f", replacing the served model ({served['accuracy']:.1%} on the same faces)" if served else ""
        if served and "photos" in summary["champion"]:
            photos = summary["champion"]["photos"]
            replaced += (f"; on {photos['rows']} photos of real people it reads {photos['mine']['accuracy']:.1%} "
                         f"against {photos['served']['accuracy']:.1%}")
        return f"your model reached {mine:.1%} and is now served{replaced}."
    why = "; ".join(summary["gate"]["reasons"] + summary["champion"]["reasons"])
    stays = (f"the served model ({served['accuracy']:.1%} on the same faces) stays" if served
             else "nothing is served")
    return (f"your model reached {mine:.1%} and was not promoted ({why}); {stays}; "
            f"`facemood models promote {summary['run_id']}` would serve yours anyway.")
