"""In-memory labelled faces: (n,48,48) uint8 pixels with labels, splits and source rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facemood.emotions import IMAGE_SIDE, NUM_CLASSES, USAGES
from facemood.errors import InvalidDataset


@dataclass(frozen=True)
class FaceSet:
    """Faces and their labels, one row per image.

    ``usage`` is None when the source had no Usage column; ``source`` names the source row
    of each face so that augmented copies of one face can be kept on one side of a split.
    """

    pixels: np.ndarray  # (n,48,48) uint8
    labels: np.ndarray  # (n,) int64 in 0..6
    usage: np.ndarray | None = None  # (n,) str
    source: np.ndarray | None = None  # (n,) int64
    augmented: np.ndarray | None = None  # (n,) bool: True for augmented copies (refined files)

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.pixels.dtype != np.uint8 or self.pixels.shape != (n, IMAGE_SIDE, IMAGE_SIDE):
            raise InvalidDataset(
                f"pixels must be uint8 of shape (n,{IMAGE_SIDE},{IMAGE_SIDE}); got "
                f"{self.pixels.dtype} {self.pixels.shape} for {n} labels"
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise InvalidDataset(f"labels must be in 0..{NUM_CLASSES - 1}")
        if self.usage is not None and len(self.usage) != n:
            raise InvalidDataset("usage must have one entry per face")
        if self.usage is not None and n:
            unknown = sorted(set(np.unique(self.usage).tolist()) - set(USAGES))
            if unknown:
                raise InvalidDataset(f"unknown usage {unknown[0]!r}; expected one of {', '.join(USAGES)}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> FaceSet:
        """Return the faces selected by ``index`` (a boolean mask or integer indices)."""
        return FaceSet(
            pixels=self.pixels[index],
            labels=self.labels[index],
            usage=None if self.usage is None else self.usage[index],
            source=None if self.source is None else self.source[index],
            augmented=None if self.augmented is None else self.augmented[index],
        )

    def split(self, usage: str) -> FaceSet:
        """Return the faces whose Usage is ``usage`` (empty when there is no Usage column)."""
        if self.usage is None:
            return self.subset(np.zeros(len(self), dtype=bool))
        return self.subset(self.usage == usage)

    def class_counts(self) -> np.ndarray:
        """Return the number of faces of each label, shape (7,)."""
        return np.bincount(self.labels, minlength=NUM_CLASSES)


def load_npz(stream) -> FaceSet:
    """Read a FaceSet from an ``.npz`` with ``pixels`` and ``emotion`` (and ``usage``).

    ``allow_pickle`` stays off: an npz holding object arrays is refused, never executed.
    """
    try:
        with np.load(stream, allow_pickle=False) as archive:
            missing = {"pixels", "emotion"} - set(archive.files)
            if missing:
                raise InvalidDataset(f"npz lacks the array(s) {', '.join(sorted(missing))}")
            pixels = np.ascontiguousarray(archive["pixels"])
            labels = np.asarray(archive["emotion"], dtype=np.int64)
            usage = np.asarray(archive["usage"], dtype=str) if "usage" in archive.files else None
            source = np.asarray(archive["source"], dtype=np.int64) if "source" in archive.files else None
    except (ValueError, OSError) as exc:
        raise InvalidDataset(f"not a readable npz archive: {exc}") from exc
    if pixels.ndim == 2 and pixels.shape[1] == IMAGE_SIDE * IMAGE_SIDE:
        pixels = pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    if pixels.dtype != np.uint8:
        raise InvalidDataset(f"npz pixels must be uint8, got {pixels.dtype}")
    return FaceSet(pixels=pixels, labels=labels, usage=usage, source=source)
