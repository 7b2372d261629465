"""The tests' FER2013 loader reads Kaggle's CSV, its gzip and the shared .npz alike."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.conftest import csv_text
from tests.fer2013 import load_fer2013

RNG = np.random.default_rng(11)
PIXELS = RNG.integers(0, 256, (5, 48, 48), dtype=np.uint8)
LABELS = np.array([0, 3, 4, 6, 2])
USAGE = np.array(["Training", "Training", "PublicTest", "PrivateTest", "Training"])


@pytest.mark.parametrize("name", ["fer2013.csv", "fer2013.csv.gz", "fer2013.npz"])
def test_every_format_gives_the_same_arrays(tmp_path, name):
    path = tmp_path / name
    text = csv_text(LABELS, PIXELS, USAGE).encode()
    if name.endswith(".npz"):
        np.savez(path, pixels=PIXELS, emotion=LABELS.astype(np.int8), usage=USAGE)
    else:
        path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    data = load_fer2013(path)
    np.testing.assert_array_equal(data["pixels"], PIXELS)
    np.testing.assert_array_equal(data["emotion"], LABELS)
    assert data["usage"].tolist() == USAGE.tolist()


def test_a_csv_without_usage_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(csv_text(LABELS, PIXELS, header="emotion,pixels"))
    with pytest.raises(ValueError, match="no Usage column: the tests need FER2013's Training and PublicTest"):
        load_fer2013(path)
