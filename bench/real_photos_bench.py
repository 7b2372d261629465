"""Benchmark: how a bundle reads real photos of real people, through the whole photo path
(decode, detect, crop, model: what ``facemood predict`` and the page do).

    python -m bench.real_photos_bench [--model models/latest.json] [--photos ../shared/data/wild/dev]
                                      [--part report|tune|choose|all] [--split 0.4,0.2,0.4 [--split-seed 1]]
    python -m bench.real_photos_bench --list-parts [--model models/latest.json]

PHOTOS is a folder with ``labels.csv`` (``file,emotion``). When the bundle was fine-tuned on real
photos, its manifest's ``photo_finetune.split`` says how their persons were split into train, tune
and report parts; the bench rebuilds that split over every folder it names (siblings of PHOTOS)
and reports only on persons it never saw (``--part report``, the default): a person of the report
part who has a photo in a train or tune part of *any* folder is refused and counted (bundles
before the split across folders split each folder on its own, so a person could be in both).
``--part tune`` gives the persons kept for the temperature, the photo calibration and the distress
rule (its figures there are in-sample), ``--part choose`` every person outside the report part.
``--list-parts`` prints the split as CSV ``folder,file,person,part`` (every photo of every folder,
face found or not), so anyone can check that no person is in two parts. ``--split 0.4,0.2,0.4``
applies a person split to a bundle not fitted on the folder (``--split-seed``: the seed).

Photos are read as the page reads them: the graph, then the bundle's photo calibration
(:mod:`facemood.photo_calibration`); a line gives the reading without it for comparison. Prints,
for the photos together and for each source apart (LFW close-ups ``Name_NNNN.jpg``; small web
crops, every other name), accuracy, macro-F1, neutral recall, the page's distress flag (precision
and recall), the expected calibration error with the value a perfectly calibrated model would read
on as many photos from sampling alone; then, together, each headline figure's range over person
resamples (what other persons like these might read), recall per class, a sweep of thresholds for
either distress score, and the confusion matrix. A photo with no face found counts as missed, not
as wrong.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from facemood.emotions import EMOTIONS

if TYPE_CHECKING:
    from facemood.manifest import Manifest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "wild" / "dev"
PARTS = {"train": 0, "tune": 1, "report": 2}
_CLOSE_UP = re.compile(r"_\d{4}$")  # LFW's file names: Name_NNNN.jpg


def photo_source(file_name: str) -> str:
    """Which source a photo of wild/ comes from: LFW's close-ups are ``Name_NNNN.jpg``; the
    small web crops (mostly film stills) carry other names."""
    return "LFW close-ups" if _CLOSE_UP.search(Path(file_name).stem) else "small web crops"


def bundle_split(manifest: Manifest | None, photos_root: Path) -> dict[str, dict[str, int]] | None:
    """The bundle's person split of each photo folder it was fitted on (folder name -> {file:
    part}), rebuilt from its manifest over the folders of that name under ``photos_root``; None
    when the bundle was fitted on no photos."""
    from facemood.photo_set import split_across_folders

    if manifest is None or manifest.photo_stage is None:
        return None
    split = manifest.photo_stage.split
    names = list(split.folders)
    folders = [photos_root / name for name in names]
    fractions = [split.folders[name] for name in names]
    missing = [str(f) for f in folders if not (f / "labels.csv").is_file()]
    if missing:
        raise SystemExit(f"the bundle was fitted on photo folders that are not here: {', '.join(missing)}")
    if split.across_folders:
        parts = split_across_folders(folders, fractions, split.seed)
    else:  # bundles before the split across folders: each folder on its own
        parts = [split_across_folders([f], [shares], split.seed)[0] for f, shares in zip(folders, fractions)]
    return dict(zip(names, parts))


def seen_persons(split: dict[str, dict[str, int]]) -> set[str]:
    """The persons with a photo in a train or tune part of any folder."""
    from facemood.photo_set import person_of

    return {person_of(file) for parts in split.values() for file, part in parts.items() if part != PARTS["report"]}


def list_parts(split: dict[str, dict[str, int]], out: TextIO = sys.stdout) -> None:
    """Write the split as CSV: folder, file, person, part."""
    from facemood.photo_set import PART_NAMES, person_of

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["folder", "file", "person", "part"])
    for folder, parts in split.items():
        for file, part in parts.items():
            writer.writerow([folder, file, person_of(file), PART_NAMES[part]])


def chosen_rows(persons: np.ndarray, files: np.ndarray, split: dict[str, dict[str, int]] | None, part: str,
                folder: Path, split_given: tuple[float, ...] | None, seed_given: int = 0) -> tuple[np.ndarray, str]:
    """The rows to report, and a line saying which: the bundle's own person split when it was
    fitted on this folder (less, for the report part, every person seen in a train or tune part
    of any folder), else ``split_given`` (with ``seed_given``), else every photo."""
    from facemood.photo_set import person_parts

    if part == "all":
        return np.ones(len(persons), dtype=bool), "every photo"
    if split and folder.name in split:
        parts = np.array([split[folder.name][f] for f in files.tolist()], dtype=np.int64)
        described = "the bundle's own person split"
    elif split_given:
        parts = person_parts(persons, split_given, seed_given)
        described = f"a person split {'/'.join(f'{f:g}' for f in split_given)} (seed {seed_given})"
    else:
        return np.ones(len(persons), dtype=bool), "every photo (the bundle was not fitted on this folder)"
    rows = (parts != PARTS["report"]) if part == "choose" else (parts == PARTS[part])
    which = f"the {part} part of {described}"
    if part == "report" and split:
        seen = seen_persons(split)
        refused = rows & np.isin(persons, list(seen))
        rows &= ~refused
        which += (f"; refused {int(refused.sum())} photos of {len(set(persons[refused].tolist()))} report persons "
                  "with photos in a train or tune part: persons it never saw" if refused.any()
                  else ": persons none of whose photos, in any folder, trained or tuned")
    return rows, which


def describe_photo_calibration(manifest: Manifest | None) -> str:
    """One line on the bundle's photo calibration: what it is and what it was fitted on."""
    calibration = None if manifest is None else manifest.photo_calibration
    if calibration is None:
        return "photo calibration: none (photos are read as the graph reads them)"
    fit = manifest.section("photo_calibration").get("fit", {})
    return (f"photo calibration: temperature {calibration.temperature:.2f}, shifts "
            + ", ".join(f"{name} {value:+.2f}" for name, value in zip(EMOTIONS, calibration.shift))
            + f" (fitted on {fit.get('photos', '?')} tune photos of {fit.get('persons', '?')} persons, "
            f"L2 {fit.get('l2', '?')})")


def headline(name: str, probs: np.ndarray, labels: np.ndarray, rule) -> str:
    """One line of figures for a set of photos: accuracy, macro-F1, neutral recall, the flag, the
    ECE beside what sampling alone gives a perfectly calibrated model on as many photos."""

    from pipeline.scores import classification_scores, expected_calibration_error, flag_figures, sampling_ece

    if labels.size == 0:
        return f"  {name}: no photos"
    metrics = classification_scores(labels, probs)
    truly = np.isin(labels, [EMOTIONS.index(e) for e in rule.emotions])
    precision, recall, flags = flag_figures(rule.scores(probs), truly, rule.threshold)
    median, high = sampling_ece(probs)
    return (f"  {name}: {len(labels)} photos, accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.1%}, "
            f"neutral recall {metrics['per_class']['neutral']['recall']:.1%}, distress flag precision {precision:.1%} "
            f"recall {recall:.1%} ({flags} flags, {int(truly.sum())} labelled so), ECE "
            f"{expected_calibration_error(probs, labels, 15):.1%} (perfect calibration would read {median:.1%}, "
            f"90% under {high:.1%})")


def main() -> None:
    """Read every photo, predict, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "latest.json"))
    parser.add_argument("--photos", default=str(DEFAULT_PHOTOS))
    parser.add_argument("--part", choices=["report", "tune", "choose", "all"], default="report",
                        help="choose: every person outside the report part")
    parser.add_argument("--list-parts", action="store_true",
                        help="print the bundle's person split as CSV folder,file,person,part and stop")
    parser.add_argument("--split", default=None,
                        help="train,tune,report fractions of persons for a bundle not fitted on the folder")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="the seed of --split (a fitted bundle's own seed: the same persons as it reports on)")
    args = parser.parse_args()

    from facemood.app_settings import load_app_settings
    from facemood.bundle import load_bundle
    from facemood.distress import COMBINES, DistressRule
    from facemood.photo_set import photo_crops
    from pipeline.scores import (
        classification_scores,
        expected_calibration_error,
        flag_figures,
        person_bootstrap_interval,
        weighted_macro_f1,
        weighted_share,
    )

    settings = load_app_settings()
    folder = Path(args.photos)
    model = load_bundle(args.model, threads=1)
    split = bundle_split(model.manifest, folder.parent)
    if args.list_parts:
        if split is None:
            raise SystemExit(f"bundle {model.run_id} was fitted on no photos: it has no person split")
        list_parts(split)
        return
    crops = photo_crops(folder, settings.faces)
    given = tuple(float(f) for f in args.split.split(",")) if args.split else None
    rows, which = chosen_rows(crops.persons, crops.files, split, args.part, folder, given, args.split_seed)
    crops = crops.subset(np.flatnonzero(rows))
    graph = model.predict_proba(crops.crops)
    probs = model.predict_photo_proba(crops.crops)  # as `facemood predict` and the page read them
    labels = crops.labels
    metrics = classification_scores(labels, probs)
    rule = settings.distress.rule_for(model.distress_rule)  # as the page: the model's own unless configured
    print(f"model {model.run_id} on {folder}: {which}")
    print(f"  {len(labels)} photos read ({len(np.unique(crops.persons))} persons); "
          f"{len(crops.missed)} of the folder's photos had no face found")
    print(f"  {describe_photo_calibration(model.manifest)}")
    if model.first_pass is not None:
        print(f"  first pass (network {model.manifest.section('first_pass')['network'] + 1} alone, at >= "
              f"{model.first_pass.exit_probability:g}) answers {model.answered_by_first_pass(crops.crops).mean():.1%} "
              "of these faces; the whole graph reads the rest")
    sources = np.array([photo_source(f) for f in crops.files.tolist()])
    print("figures, together and by source:")
    print(headline("together", probs, labels, rule))
    for source in ("LFW close-ups", "small web crops"):
        chosen = sources == source
        print(headline(source, probs[chosen], labels[chosen], rule))
    predicted = probs.argmax(axis=1)
    neutral = EMOTIONS.index("neutral")

    def spread(statistic: Callable[[np.ndarray], float]) -> str:
        low, top = person_bootstrap_interval(statistic, crops.persons)
        return f"{low:.1%}-{top:.1%}"

    print(f"  over other persons like these (90% of person resamples): accuracy "
          f"{spread(lambda w: float(np.average(predicted == labels, weights=w)))}, macro-F1 "
          f"{spread(lambda w: weighted_macro_f1(labels, predicted, w))}, neutral recall "
          f"{spread(lambda w: weighted_share(predicted == neutral, labels == neutral, w))}")
    print("  recall per class: " + ", ".join(f"{name} {m['recall']:.1%} (of {m['support']})"
                                            for name, m in metrics["per_class"].items()))
    truly = np.isin(labels, [EMOTIONS.index(e) for e in rule.emotions])
    distress = rule.scores(probs)
    source = settings.distress.source(model.distress_rule)
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
        scores = DistressRule(rule.emotions, 0.0, combine).scores(probs)
        sweep = [(t, *flag_figures(scores, truly, float(t))) for t in np.round(np.arange(0.3, 0.91, 0.05), 2)]
        print(f"  {'together' if combine == 'sum' else 'the likeliest alone'} (threshold precision/recall flags): "
              + "; ".join(f"{t:.2f} {p:.1%}/{r:.1%} {n}" for t, p, r, n in sweep))
    print("confusion matrix (rows: label, columns: reading; " + " ".join(e[:3] for e in EMOTIONS) + ")")
    for name, row in zip(EMOTIONS, metrics["confusion_matrix"]):
        print(f"  {name:8s} " + " ".join(f"{v:3d}" for v in row))


if __name__ == "__main__":
    main()
