"""Reading the real FER2013 data the tests use, from Kaggle's CSV or the shared ``.npz``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facemood.config import ENV, REPO_ROOT
from facemood.dataset import read_faceset
from facemood.faceset import load_npz

DEFAULT_PATH = REPO_ROOT.parent / "shared" / "data" / "fer2013.npz"

BATCH_ROWS = 8192  # the CSV's pixels are parsed a batch at a time with numpy


def fer2013_path() -> Path:
    """Where the real FER2013 data is: ``FACEMOOD_FER2013``, else ``../shared/data/fer2013.npz``."""
    return Path(os.environ.get(ENV.FER2013) or DEFAULT_PATH)


def load_fer2013(path: Path) -> dict[str, np.ndarray]:
    """``pixels`` (n,48,48) uint8, ``emotion`` (n,) and ``usage`` (n,) str from ``path``.

    ``path`` is Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``), a gzip of it (``.csv.gz``),
    or an ``.npz`` with those arrays. The CSV goes through the project's own reader, which
    parses pixels with whole-batch numpy operations (a few seconds for the 290 MB file).
    """
    with open(path, "rb") as stream:
        if path.suffix == ".npz":
            faces = load_npz(stream)
        else:
            faces, _ = read_faceset(stream, batch_rows=BATCH_ROWS)
    if faces.usage is None:
        raise ValueError(f"{path} has no Usage column: the tests need FER2013's Training and PublicTest splits")
    return {"pixels": faces.pixels, "emotion": faces.labels, "usage": faces.usage}
