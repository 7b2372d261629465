"""The real-photo bench reads a bundle's person split over every folder it names, lists it, and
reports only on persons none of whose photos trained or tuned."""

from __future__ import annotations

import csv
import io

import numpy as np

from bench.real_photos_bench import bundle_split, chosen_rows, list_parts, photo_source
from facemood.manifest import FileRecord, Manifest
from facemood.photo_set import person_of
from tests.photos import labelled_folder

DEV_FRACTIONS, EXTRA_FRACTIONS = [0.4, 0.2, 0.4], [0.85, 0.15, 0.0]


def _wild(tmp_path):
    """dev and extra sharing every other dev person, as wild/ does."""
    people = [f"Person_{i:02d}" for i in range(40)]
    dev = labelled_folder(tmp_path / "wild" / "dev", [f"{p}_0001.jpg" for p in people] + ["Crowd_7.jpg"], "neutral")
    labelled_folder(tmp_path / "wild" / "extra", [f"{p}_0002.jpg" for p in people[::2]] + ["Crowd_8.jpg"], "neutral")
    return dev


def _manifest(across: bool) -> Manifest:
    split = {"seed": 1, "parts": ["train", "tune", "report"],
             "folders": {"dev": DEV_FRACTIONS, "extra": EXTRA_FRACTIONS}}
    entries = {"status": "accepted",
               "photo_finetune": {"split": {**split, "across_folders": True} if across else split, "tune_photos": 1}}
    return Manifest.for_run("run", entries, {"model.onnx": FileRecord("ab" * 32, 1)})


def _report(dev, manifest) -> tuple[set[str], str]:
    split = bundle_split(manifest, dev.parent)
    files = np.array(sorted(split["dev"]))
    persons = np.array([person_of(f) for f in files])
    rows, which = chosen_rows(persons, files, split, "report", dev, None)
    return set(persons[rows].tolist()), which


def test_a_bundle_split_per_folder_is_reported_only_on_persons_it_never_saw(tmp_path):
    dev = _wild(tmp_path)
    split = bundle_split(_manifest(across=False), dev.parent)
    seen = {person_of(f) for parts in split.values() for f, part in parts.items() if part < 2}
    report_parts = {person_of(f) for f, part in split["dev"].items() if part == 2}
    assert report_parts & seen  # the old split puts shared persons in two parts...
    reported, which = _report(dev, _manifest(across=False))
    assert reported and not reported & seen and "refused" in which  # ...and the bench refuses them


def test_a_bundle_split_across_folders_puts_each_person_in_one_part(tmp_path):
    dev = _wild(tmp_path)
    split = bundle_split(_manifest(across=True), dev.parent)
    out = io.StringIO()
    list_parts(split, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 41 + 21 and {r["folder"] for r in rows} == {"dev", "extra"}
    parts_of: dict[str, set[str]] = {}
    for row in rows:
        parts_of.setdefault(row["person"], set()).add(row["part"])
    assert all(len(parts) == 1 for parts in parts_of.values())
    reported, which = _report(dev, _manifest(across=True))
    assert reported == {r["person"] for r in rows if r["folder"] == "dev" and r["part"] == "report"}
    assert reported and "refused" not in which


def test_the_sources_are_told_apart_by_file_name():
    assert photo_source("Al_Sharpton_0003.jpg") == "LFW close-ups"
    assert photo_source("Dwarakish_180.jpg") == "small web crops"
    assert photo_source("facial-expressions_2868582k.jpg") == "small web crops"
