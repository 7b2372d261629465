"""Benchmark: what a bundle's answers mean on PublicTest: accuracy, macro-F1, recall per class,
calibration (from the bundle: measured on faces not used to fit it), the page's distress rule
for this bundle (precision and recall, and the lowest threshold that keeps precision >= 90%),
and how often the page's reading is clear, with its accuracy.

    python -m bench.model_bench [--model models/latest.json]

"Distress" here: the true label is one of the rule's emotions; the rule fires when their score
(summed, or the likeliest alone, as the bundle's rule says) reaches the threshold
(facemood.distress).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from tests.fer2013 import fer2013_path, load_fer2013

REPO = Path(__file__).resolve().parent.parent
PRECISION_TARGET = 0.90


def main() -> None:
    """Load the bundle and PublicTest; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "latest.json"))
    args = parser.parse_args()
    from facemood.app_settings import load_app_settings
    from facemood.bundle import load_bundle
    from facemood.checkin import is_clear
    from facemood.emotions import EMOTIONS
    from pipeline.calibration import halves
    from pipeline.scores import classification_scores, flag_figures, sampling_ece

    data = load_fer2013(fer2013_path())
    public = data["usage"] == "PublicTest"
    pixels, labels = data["pixels"][public], data["emotion"][public]
    model = load_bundle(args.model, threads=2)
    probs = model.predict_proba(pixels)
    metrics = classification_scores(labels, probs)
    print(f"model {model.run_id} on {len(labels)} PublicTest faces: accuracy {metrics['accuracy']:.2%}, "
          f"macro-F1 {metrics['macro_f1']:.2%}")
    print("  recall per class: " + ", ".join(f"{name} {m['recall']:.1%}" for name, m in metrics["per_class"].items()))
    if model.first_pass is not None:  # served as a cascade: say how much the first pass answered, and what it costs
        alone = classification_scores(labels, replace(model, first_pass=None).predict_proba(pixels))
        print(f"  first pass (network {model.manifest.section('first_pass')['network'] + 1} alone, at >= "
              f"{model.first_pass.exit_probability:g}) answers {model.answered_by_first_pass(pixels).mean():.1%} of "
              f"these faces; the whole graph alone reads {alone['accuracy']:.2%}, macro-F1 {alone['macro_f1']:.2%}")
    calibration = model.manifest.section("calibration")
    if calibration:
        print(f"calibration: temperature {calibration['temperature']:.3f} fitted on {calibration['fit_rows']} faces; "
              f"on the other {calibration['report_rows']}: ECE ({calibration['bins']} bins) "
              f"{calibration['ece_before']:.2%} before, {calibration['ece_after']:.2%} after (target <= 2.5%)")
        config = model.manifest.section("config")
        _, report_rows = halves(labels, config["calibration"]["fit_fraction"], config["training"]["seed"])
        median, high = sampling_ece(probs[report_rows], calibration["bins"])
        print(f"  on those {len(report_rows)} faces a perfectly calibrated model with these confidences would read an "
              f"ECE of {median:.2%} (median; 90% under {high:.2%}) from sampling alone")
    else:
        print("calibration: none in this bundle")

    settings = load_app_settings()
    rule = settings.distress.rule_for(model.distress_rule)  # what the page uses for this model
    truly = np.isin(labels, [EMOTIONS.index(e) for e in rule.emotions])
    scores = rule.scores(probs)
    precision, recall, alerts = flag_figures(scores, truly, rule.threshold)
    print(f"distress rule ({rule.describe()}): precision {precision:.1%}, "
          f"recall {recall:.1%} ({alerts} alerts; {int(truly.sum())} faces labelled so)")
    for threshold in np.round(np.arange(0.3, 0.96, 0.05), 2):
        p, r, n = flag_figures(scores, truly, float(threshold))
        print(f"  score >= {threshold:.2f}: precision {p:.1%}, recall {r:.1%}, {n} alerts")
    every = {float(t): flag_figures(scores, truly, float(t)) for t in np.round(np.arange(0.0, 1.0, 0.01), 2)}
    keeps = [t for t, (p, _, n) in every.items() if p >= PRECISION_TARGET and n > 0]
    if keeps:
        p, r, _ = flag_figures(scores, truly, float(keeps[0]))
        print(f"lowest threshold with precision >= {PRECISION_TARGET:.0%}: {keeps[0]:.2f} "
              f"(precision {p:.1%}, recall {r:.1%})")
    else:
        print(f"no threshold reaches precision {PRECISION_TARGET:.0%}")

    clear = np.array([is_clear(dict(zip(EMOTIONS, map(float, row))), settings.clarity) for row in probs])
    correct = probs.argmax(axis=1) == labels
    print(f"clarity (clear at p >= {settings.clarity.clear_min_probability} and a lead of "
          f">= {settings.clarity.clear_min_margin}): {clear.mean():.1%} clear, accuracy {correct[clear].mean():.1%}; "
          f"unclear {correct[~clear].mean():.1%}")


if __name__ == "__main__":
    main()
