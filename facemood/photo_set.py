"""Labelled real photos (a folder with ``labels.csv``: ``file,emotion``) through the photo path.

Each photo goes through the same decode, detect and crop as a student's upload
(:class:`facemood.faces.FacePreprocessor`); the largest face's 48x48 crop is what the model
reads. Used by the real-photo bench and by training on real photos, so both see exactly what
serving sees.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facemood.emotions import EMOTIONS, IMAGE_SIDE
from facemood.errors import InvalidImage
from facemood.faces import FacePreprocessor, FaceSettings

LABELS_FILE = "labels.csv"
_PERSON_NUMBER = re.compile(r"_\d+$")


@dataclass(frozen=True)
class LabelledPhoto:
    """One row of ``labels.csv``."""

    path: Path
    label: int  # index into EMOTIONS

    @property
    def person(self) -> str:
        """Who is in the photo: the file name less its ``_NNNN`` number (the name when it has none)."""
        return person_of(self.path.name)


def person_of(file_name: str) -> str:
    """The person a photo shows, from its file name (``Al_Sharpton_0003.jpg`` -> ``Al_Sharpton``)."""
    return _PERSON_NUMBER.sub("", Path(file_name).stem)


def read_labels(folder: Path) -> list[LabelledPhoto]:
    """The rows of ``folder/labels.csv``; an unknown emotion or a missing file is an error that names its row."""
    photos = []
    with (folder / LABELS_FILE).open(newline="", encoding="utf-8") as stream:
        for row_number, row in enumerate(csv.DictReader(stream), start=2):
            emotion = (row.get("emotion") or "").strip()
            if emotion not in EMOTIONS:
                raise ValueError(f"{folder / LABELS_FILE} row {row_number}: emotion {emotion!r} is not one of "
                                 f"{', '.join(EMOTIONS)}")
            path = folder / (row.get("file") or "").strip()
            if not path.is_file():
                raise ValueError(f"{folder / LABELS_FILE} row {row_number}: no file {path.name!r}")
            photos.append(LabelledPhoto(path, EMOTIONS.index(emotion)))
    return photos


@dataclass(frozen=True)
class PhotoCrops:
    """The crops of the photos in which a face was found, and the names of those in which none was."""

    crops: np.ndarray  # (n,48,48) uint8: the largest face of each photo
    labels: np.ndarray  # (n,) int64
    persons: np.ndarray  # (n,) str
    files: np.ndarray  # (n,) str
    missed: tuple[str, ...]  # photos with no face found (or that could not be read)

    def subset(self, index: np.ndarray) -> PhotoCrops:
        """The crops at ``index`` (``missed`` is kept as it is)."""
        return PhotoCrops(self.crops[index], self.labels[index], self.persons[index], self.files[index], self.missed)

    def save(self, path: Path) -> None:
        """Write the crops as an .npz (a cache: photo-path crops are slow to make)."""
        np.savez_compressed(path, crops=self.crops, labels=self.labels, persons=self.persons, files=self.files,
                            missed=np.array(self.missed, dtype=str))

    @classmethod
    def load(cls, path: Path) -> PhotoCrops:
        """Inverse of :meth:`save`."""
        with np.load(path) as data:
            missed = [str(name) for name in np.asarray(data["missed"]).ravel()]
            return cls(data["crops"], data["labels"], data["persons"], data["files"], tuple(missed))


def _crops(photos: list[LabelledPhoto], preprocessor: FacePreprocessor) -> Iterator[tuple[LabelledPhoto,
                                                                                          np.ndarray | None]]:
    for photo in photos:
        try:
            faces = preprocessor(photo.path.read_bytes()).faces
        except (OSError, InvalidImage):
            faces = []
        yield photo, (faces[0].crop if faces else None)


def photo_crops(folder: Path, settings: FaceSettings) -> PhotoCrops:
    """Every photo of ``folder`` through the photo path: the largest face's crop per photo."""
    preprocessor = FacePreprocessor(settings)
    kept: list[tuple[LabelledPhoto, np.ndarray]] = []
    missed: list[str] = []
    for photo, crop in _crops(read_labels(folder), preprocessor):
        if crop is None:
            missed.append(photo.path.name)
        else:
            kept.append((photo, crop))
    crops = np.stack([c for _, c in kept]) if kept else np.zeros((0, IMAGE_SIDE, IMAGE_SIDE), np.uint8)
    return PhotoCrops(crops, np.array([p.label for p, _ in kept], dtype=np.int64),
                      np.array([p.person for p, _ in kept], dtype=str),
                      np.array([p.path.name for p, _ in kept], dtype=str), tuple(missed))


def settings_key(settings: FaceSettings) -> str:
    """A short fingerprint of the face settings: crops made with other settings are other crops."""
    text = json.dumps(asdict(settings), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_photo_crops(folder: Path, settings: FaceSettings, cache: Path | None) -> PhotoCrops:
    """:func:`photo_crops`, read from a cache beside ``cache`` (its name carries the face
    settings' fingerprint) when it is newer than the folder's labels."""
    labels = folder / LABELS_FILE
    if cache is not None:
        cache = cache.with_name(f"{cache.stem}-{settings_key(settings)}{cache.suffix}")
        if cache.exists() and cache.stat().st_mtime >= labels.stat().st_mtime:
            return PhotoCrops.load(cache)
    result = photo_crops(folder, settings)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        result.save(cache)
    return result


PART_NAMES = ("train", "tune", "report")


def person_parts(persons: np.ndarray, fractions: tuple[float, ...], seed: int) -> np.ndarray:
    """Which part (0, 1, ...) each photo falls in, splitting the *persons* (all photos of a person
    go together) in about the given ``fractions``, reproducibly for a seed."""
    names = np.random.default_rng(seed).permutation(np.unique(persons))
    bounds = np.cumsum(fractions) / np.sum(fractions) * len(names)
    part_of = {name: int(np.searchsorted(bounds, rank, side="right")) for rank, name in enumerate(names.tolist())}
    return np.array([part_of[p] for p in persons.tolist()], dtype=np.int64)


def split_across_folders(folders: Sequence[Path], fractions: Sequence[tuple[float, ...]],
                         seed: int) -> list[dict[str, int]]:
    """One person split over several folders: each folder's ``{file: part}`` (an index into
    :data:`PART_NAMES`), every photo of ``labels.csv`` included, found face or not.

    A person's part is drawn once, among the persons first met in the first folder listed that
    holds them, with that folder's fractions; every photo of theirs, in every folder, then falls in
    that part. So a person of the report part has no photo anywhere that trains or tunes. The
    first folder's own split is what :func:`person_parts` gives it alone.
    """
    if len(folders) != len(fractions):
        raise ValueError(f"{len(folders)} folders but {len(fractions)} lists of fractions")
    labelled = [read_labels(folder) for folder in folders]
    part_of: dict[str, int] = {}
    for photos, shares in zip(labelled, fractions):
        new = np.array(sorted({photo.person for photo in photos} - part_of.keys()), dtype=str)
        if new.size:
            part_of.update(zip(new.tolist(), person_parts(new, tuple(shares), seed).tolist()))
    return [{photo.path.name: part_of[photo.person] for photo in photos} for photos in labelled]
