"""Benchmark: how a bundle reads real photos of real people, through the whole photo path
(decode, detect, crop, model: what ``facemood predict`` and the page do).

    python -m bench.real_photos_bench [--model models/latest.json] [--photos ../shared/data/wild/dev]
                                      [--part report|tune|choose|all] [--split 0.4,0.2,0.4 [--split-seed 1]]

PHOTOS is a folder with ``labels.csv`` (``file,emotion``). When the bundle was fine-tuned on part
of that folder (its manifest's ``photo_finetune.split``), only the persons it never saw are
reported (``--part report``, the default); ``--part tune`` gives the persons kept for the
temperature and the photo calibration (so its figures there are in-sample), ``--part choose`` every
person outside the report part. ``--split 0.4,0.2,0.4`` applies a person split to a bundle not
fitted on the folder (``--split-seed``: the fitted bundle's seed, to read the same persons).
Photos are read as the page reads them: the graph, then the bundle's photo calibration
(:mod:`facemood.photo_calibration`); a line gives the reading without it for comparison. Prints accuracy,
macro-F1, recall per class, the page's distress flag (precision and recall, and a sweep of
thresholds for either score: summed, or the likeliest distress expression alone), each headline
figure's range over person resamples (what other persons like these might read), the expected
calibration error with the value a perfectly calibrated model would read on as many photos from
sampling alone, and the confusion matrix. A photo with no face found
counts as missed, not as wrong.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "wild" / "dev"
PARTS = {"train": 0, "tune": 1, "report": 2}


def chosen_rows(persons: np.ndarray, manifest: dict, part: str, folder: Path,
                split_given: tuple[float, ...] | None, seed_given: int = 0) -> tuple[np.ndarray, str]:
    """The rows to report, and a line saying which: the bundle's own person split of this folder
    when it was fitted on it, else ``split_given`` (with ``seed_given``), else every photo."""
    split = (manifest.get("photo_finetune") or {}).get("split")
    if split and folder.name in split["folders"]:
        fractions, seed = tuple(split["folders"][folder.name]), int(split["seed"])
    elif split_given:
        fractions, seed = split_given, seed_given
    else:
        return np.ones(len(persons), dtype=bool), "every photo (the bundle was not fitted on this folder)"
    if part == "all":
        return np.ones(len(persons), dtype=bool), "every photo"
    from facemood.photo_set import person_parts  # pylint: disable=import-outside-toplevel

    parts = person_parts(persons, fractions, seed)
    rows = (parts != PARTS["report"]) if part == "choose" else (parts == PARTS[part])
    shares = "/".join(f"{f:g}" for f in fractions)
    return rows, f"the {part} part of a person split {shares} (seed {seed}): persons the bundle never trained on"


def describe_photo_calibration(manifest: dict) -> str:
    """One line on the bundle's photo calibration: what it is and what it was fitted on."""
    entry = manifest.get("photo_calibration")
    if not entry:
        return "photo calibration: none (photos are read as the graph reads them)"
    fit = entry.get("fit", {})
    return (f"photo calibration: temperature {entry['temperature']:.2f}, shifts "
            + ", ".join(f"{name} {value:+.2f}" for name, value in entry["shift"].items())
            + f" (fitted on {fit.get('photos', '?')} tune photos of {fit.get('persons', '?')} persons, "
            f"L2 {fit.get('l2', '?')})")


def main() -> None:
    """Read every photo, predict, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "latest.json"))
    parser.add_argument("--photos", default=str(DEFAULT_PHOTOS))
    parser.add_argument("--part", choices=["report", "tune", "choose", "all"], default="report",
                        help="choose: every person outside the report part")
    parser.add_argument("--split", default=None,
                        help="train,tune,report fractions of persons for a bundle not fitted on the folder")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="the seed of --split (a fitted bundle's own seed: the same persons as it reports on)")
    args = parser.parse_args()
    # pylint: disable=import-outside-toplevel
    from facemood.app_settings import load_app_settings
    from facemood.bundle import load_bundle
    from facemood.distress_threshold import COMBINES, DistressThreshold
    from facemood.emotions import EMOTIONS
    from facemood.photo_set import photo_crops
    from facemood.scores import (
        classification_scores,
        expected_calibration_error,
        flag_figures,
        person_bootstrap_interval,
        sampling_ece,
        weighted_macro_f1,
        weighted_share,
    )

    settings = load_app_settings()
    folder = Path(args.photos)
    model = load_bundle(args.model, threads=1)
    crops = photo_crops(folder, settings.faces)
    split = tuple(float(f) for f in args.split.split(",")) if args.split else None
    rows, which = chosen_rows(crops.persons, model.manifest, args.part, folder, split, args.split_seed)
    crops = crops.subset(np.flatnonzero(rows))
    graph = model.predict_proba(crops.crops)
    probs = model.predict_photo_proba(crops.crops)  # as `facemood predict` and the page read them
    labels = crops.labels
    metrics = classification_scores(labels, probs)
    print(f"model {model.run_id} on {folder}: {which}")
    print(f"  {len(labels)} photos read ({len(np.unique(crops.persons))} persons); "
          f"{len(crops.missed)} of the folder's photos had no face found")
    print(f"  {describe_photo_calibration(model.manifest)}")
    if model.first_pass is not None:
        print(f"  first pass (network {model.manifest['first_pass']['network'] + 1} alone, at >= "
              f"{model.first_pass.exit_probability:g}) answers {model.answered_by_first_pass(crops.crops).mean():.1%} "
              "of these faces; the whole graph reads the rest")
    median, high = sampling_ece(probs)
    predicted = probs.argmax(axis=1)
    neutral = EMOTIONS.index("neutral")

    def spread(statistic: Callable[[np.ndarray], float]) -> str:
        low, top = person_bootstrap_interval(statistic, crops.persons)
        return f"{low:.1%}-{top:.1%}"

    print(f"accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.1%}, "
          f"ECE (15 bins) {expected_calibration_error(probs, labels, 15):.1%} (a perfectly calibrated model with "
          f"these confidences would read {median:.1%}, 90% under {high:.1%}, on {len(labels)} photos)")
    print(f"  over other persons like these (90% of person resamples): accuracy "
          f"{spread(lambda w: float(np.average(predicted == labels, weights=w)))}, macro-F1 "
          f"{spread(lambda w: weighted_macro_f1(labels, predicted, w))}, neutral recall "
          f"{spread(lambda w: weighted_share(predicted == neutral, labels == neutral, w))}")
    print("  recall per class: " + ", ".join(f"{name} {m['recall']:.1%} (of {m['support']})"
                                            for name, m in metrics["per_class"].items()))
    rule = settings.distress.rule_for(model.distress_threshold)  # as the page: the model's own unless configured
    truly = np.isin(labels, [EMOTIONS.index(e) for e in rule.emotions])
    distress = rule.scores(probs)
    source = ("config/app.yaml" if settings.distress.threshold is not None else "the model's own"
              if model.distress_threshold is not None and model.distress_threshold.applies_to(rule.emotions)
              else "config/app.yaml's fallback")
    precision, recall, flags = flag_figures(distress, truly, rule.threshold)
    if model.photo_calibration is not None:  # what the graphs read without it: the calibration's part
        alone = classification_scores(labels, graph)
        p, r, _ = flag_figures(rule.scores(graph), truly, rule.threshold)
        print(f"  without the photo calibration: accuracy {alone['accuracy']:.1%}, macro-F1 "
              f"{alone['macro_f1']:.1%}, neutral recall {alone['per_class']['neutral']['recall']:.1%}, ECE "
              f"{expected_calibration_error(graph, labels, 15):.1%}, distress flag precision {p:.1%}, recall {r:.1%}")
    print(f"distress flag ({rule.describe()}, {source}): precision {precision:.1%}, "
          f"recall {recall:.1%} ({flags} flags; {int(truly.sum())} photos labelled so)")
    flagged = distress >= rule.threshold
    print(f"  over other persons like these (90% of person resamples): precision "
          f"{spread(lambda w: weighted_share(flagged & truly, flagged, w))}, recall "
          f"{spread(lambda w: weighted_share(flagged & truly, truly, w))}")
    for combine in COMBINES:  # every threshold of either score, for comparison
        scores = DistressThreshold(rule.emotions, 0.0, combine).scores(probs)
        sweep = [(t, *flag_figures(scores, truly, float(t))) for t in np.round(np.arange(0.3, 0.91, 0.05), 2)]
        print(f"  {'together' if combine == 'sum' else 'the likeliest alone'} (threshold precision/recall flags): "
              + "; ".join(f"{t:.2f} {p:.1%}/{r:.1%} {n}" for t, p, r, n in sweep))
    print("confusion matrix (rows: label, columns: reading; " + " ".join(e[:3] for e in EMOTIONS) + ")")
    for name, row in zip(EMOTIONS, metrics["confusion_matrix"]):
        print(f"  {name:8s} " + " ".join(f"{v:3d}" for v in row))


if __name__ == "__main__":
    main()
