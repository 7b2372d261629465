"""Real FER2013 faces through the data path (skipped when ../shared/data is absent)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np

from facemood import dataset, transforms
from facemood.augment import augment_file, load_augment_settings
from tests.conftest import csv_text


def test_real_faces_round_trip_through_augmentation(real_faces, tmp_path):
    source = tmp_path / "fer.csv"
    source.write_text(csv_text(real_faces["emotion"], real_faces["pixels"], real_faces["usage"]))
    report = augment_file(str(source), str(tmp_path / "out.csv.gz"), load_augment_settings())
    assert report.status == "complete" and report.rejected_count == 0
    with open(tmp_path / "out.csv.gz", "rb") as stream:
        faces, rejections = dataset.read_faceset(stream)
    assert not rejections
    assert len(faces) == 400 + 3 * 300
    originals = faces.subset(~faces.augmented)
    np.testing.assert_array_equal(originals.source, np.arange(2, 402))  # every input line, once, in order
    np.testing.assert_array_equal(originals.pixels, real_faces["pixels"])
    public = faces.split("PublicTest")
    assert not public.augmented.any()  # evaluation rows are never augmented
    # each PublicTest face is its own source line's face, row by row
    np.testing.assert_array_equal(public.pixels, real_faces["pixels"][public.source - 2])
    np.testing.assert_array_equal(public.labels, real_faces["emotion"][public.source - 2])
    assert report.by_split["Training"]["happy"] == int((real_faces["emotion"][:300] == 3).sum())


def test_augmented_real_faces_still_resemble_their_source(real_faces):
    faces = real_faces["pixels"][:100]
    geometric_only = replace(load_augment_settings().transforms, flip=False, brightness=0, contrast=0)
    copy = transforms.augmented_copies(faces, geometric_only, 0)[0]
    own = np.array([np.corrcoef(copy[i].ravel(), faces[i].ravel())[0, 1] for i in range(100)])
    other = np.array([np.corrcoef(copy[i].ravel(), faces[(i + 1) % 100].ravel())[0, 1] for i in range(100)])
    assert np.median(own) > 0.6 and np.median(own) > np.median(other) + 0.3


def test_real_csv_reads_back_bit_exact(real_faces):
    text = csv_text(real_faces["emotion"], real_faces["pixels"], real_faces["usage"]).encode()
    faces, rejections = dataset.read_faceset(io.BytesIO(text), batch_rows=64)
    assert not rejections
    np.testing.assert_array_equal(faces.pixels, real_faces["pixels"])
    np.testing.assert_array_equal(faces.labels, real_faces["emotion"])
