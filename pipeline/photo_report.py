"""What a bundle's reading is worth on people it has never seen: its figures on the report
persons of the photo folders that calibrate (none of their photos, in any folder, trained, tuned
or chose anything), measured once when the bundle is written, read as the page reads them (the
graph, the photo calibration, the bundle's distress rule). The manifest carries them
(``photo_report``) so the page can tell a student how often a reading like theirs is right;
nothing in the pipeline decides on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facemood.bundle import Bundle
from facemood.distress import MANIFEST_KEY as DISTRESS_RULE_KEY
from facemood.distress import read_distress_rule
from facemood.emotions import EMOTIONS
from facemood.photo_calibration import MANIFEST_KEY as PHOTO_CALIBRATION_KEY
from facemood.photo_calibration import read_photo_calibration
from facemood.photo_set import PhotoCrops
from pipeline.scores import classification_scores, expected_calibration_error, flag_figures

MEASURED_ON = "report persons: none of their photos, in any folder, trained, tuned or chose anything"


def photo_report(served: Bundle, report: PhotoCrops | None, calibration: dict[str, Any] | None,
                 rule: dict[str, Any] | None, bins: int) -> dict[str, Any] | None:
    """The manifest's ``photo_report``: accuracy, macro-F1, neutral recall, ECE and (with a rule)
    the distress flag's precision and recall on ``report``; None without report photos."""
    if report is None or report.labels.size == 0:
        return None
    entries = {PHOTO_CALIBRATION_KEY: calibration, DISTRESS_RULE_KEY: rule}
    probabilities = served.predict_proba(report.crops)
    photo_calibration = read_photo_calibration(entries)
    if photo_calibration is not None:
        probabilities = photo_calibration.apply(probabilities)
    labels = report.labels.astype(np.int64)
    scores = classification_scores(labels, probabilities)
    figures: dict[str, Any] = {
        "measured_on": MEASURED_ON, "photos": int(labels.size), "persons": int(np.unique(report.persons).size),
        "accuracy": round(scores["accuracy"], 4), "macro_f1": round(scores["macro_f1"], 4),
        "neutral_recall": round(scores["per_class"]["neutral"]["recall"], 4),
        "ece": round(expected_calibration_error(probabilities, labels, bins), 4)}
    distress_rule = read_distress_rule(entries)
    if distress_rule is not None:
        truly = np.isin(labels, [EMOTIONS.index(e) for e in distress_rule.emotions])
        precision, recall, flags = flag_figures(distress_rule.scores(probabilities), truly, distress_rule.threshold)
        figures |= {"flag_precision": round(precision, 4), "flag_recall": round(recall, 4), "flags": flags,
                    "distress_photos": int(truly.sum())}
    return figures
