"""The FER2013 CSV reader, validator and writer."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest

from facemood import dataset
from facemood.errors import InvalidDataset, NoValidRows
from tests.conftest import csv_text

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(6, 48, 48), dtype=np.uint8)
LABELS = np.array([0, 1, 2, 3, 4, 6])
USAGE = ["Training", "Training", "PublicTest", "PrivateTest", "Training", "Training"]


def read_all(data: bytes, batch_rows: int = 1024):
    """Every batch's rows and rejections concatenated."""
    batches = list(dataset.read_batches(io.BytesIO(data), batch_rows))
    pixels = np.concatenate([b.pixels for b in batches]) if batches else np.zeros((0, 48, 48), np.uint8)
    labels = np.concatenate([b.labels for b in batches]) if batches else np.zeros(0, int)
    rejections = [r for b in batches for r in b.rejections]
    return batches, pixels, labels, rejections


def valid_csv() -> str:
    """Six valid rows."""
    return csv_text(LABELS, PIXELS, USAGE)


def row(label="3", pixels=None, usage="Training") -> str:
    """One CSV row with the given fields."""
    values = " ".join(str(v) for v in (PIXELS[0].ravel() if pixels is None else pixels))
    return f"{label},{values},{usage}"


def test_reads_valid_rows_exactly():
    batches, pixels, labels, rejections = read_all(valid_csv().encode())
    assert not rejections
    np.testing.assert_array_equal(pixels, PIXELS)
    np.testing.assert_array_equal(labels, LABELS)
    assert batches[0].usage.tolist() == USAGE
    assert batches[0].lines.tolist() == [2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("header", ["emotion,pixels,Usage", "Emotion, Pixels , USAGE", "emotion, Usage, pixels"])
def test_header_names_match_case_and_space_insensitively(header):
    names = [n.strip().lower() for n in header.split(",")]
    lines = [header]
    for i in range(2):
        cells = {"emotion": str(LABELS[i]), "pixels": " ".join(map(str, PIXELS[i].ravel())), "usage": USAGE[i]}
        lines.append(",".join(cells[n] for n in names))
    _, pixels, labels, rejections = read_all(("\n".join(lines) + "\n").encode())
    assert not rejections
    np.testing.assert_array_equal(pixels, PIXELS[:2])
    np.testing.assert_array_equal(labels, LABELS[:2])


def test_kaggle_icml_header_with_leading_spaces():
    text = "emotion, Usage, pixels\n" + f"{LABELS[0]},Training,{' '.join(map(str, PIXELS[0].ravel()))}\n"
    batches, pixels, _, rejections = read_all(text.encode())
    assert rejections == [] and batches[0].usage.tolist() == ["Training"]
    np.testing.assert_array_equal(pixels[0], PIXELS[0])


def test_challenge_train_csv_without_usage():
    batches, pixels, _, rejections = read_all(csv_text(LABELS, PIXELS, header="emotion,pixels").encode())
    assert rejections == [] and batches[0].usage is None and len(pixels) == 6


def test_bom_crlf_and_gzip_are_accepted():
    text = "\ufeff" + valid_csv().replace("\n", "\r\n")
    for data in (text.encode("utf-8"), gzip.compress(text.encode("utf-8"))):
        _, pixels, labels, rejections = read_all(data)
        assert not rejections
        np.testing.assert_array_equal(pixels, PIXELS)
        np.testing.assert_array_equal(labels, LABELS)


@pytest.mark.parametrize("bad_row, reason", [
    (row(pixels=PIXELS[0].ravel()[:-1]), "pixels has 2303 values, expected 2304 (48x48)"),
    (row(pixels=list(PIXELS[0].ravel()) + [1]), "pixels has 2305 values, expected 2304 (48x48)"),
    (row(pixels=["12"] * 10 + ["abc"] + ["1"] * 2293), "pixel 11 is 'abc', not an integer"),
    (row(pixels=["12"] * 4 + ["3.5"] + ["1"] * 2299), "pixel 5 is '3.5', not an integer"),
    (row(pixels=["-4"] + ["1"] * 2303), "pixel 1 is '-4', not an integer"),
    (row(pixels=["1"] * 7 + ["256"] + ["1"] * 2296), "pixel 8 is 256, outside 0..255"),
    (row(pixels=["1"] * 7 + ["1000"] + ["1"] * 2296), "pixel 8 is 1000, outside 0..255"),
    (row(label="7"), "emotion 7 is outside 0..6"),
    (row(label="-1"), "emotion -1 is outside 0..6"),
    (row(label="happy"), "emotion 'happy' is not an integer"),
    (row(usage="Validation"), "unknown Usage 'Validation'; expected Training, PublicTest, PrivateTest"),
    ("3,1 2 3", "ragged row: 2 fields where the header has 3"),
    (row() + ",extra", "ragged row: 4 fields where the header has 3"),
    (",,", "emotion '' is not an integer"),
])
def test_each_bad_row_is_rejected_with_its_line_and_reason(bad_row, reason):
    text = "emotion,pixels,Usage\n" + row() + "\n" + bad_row + "\n" + row(label="5") + "\n"
    _, pixels, labels, rejections = read_all(text.encode())
    assert [(r.line, r.reason) for r in rejections] == [(3, reason)]
    assert labels.tolist() == [3, 5]  # the good rows on either side survive
    assert len(pixels) == 2


def test_zero_padded_pixels_are_valid():
    text = "emotion,pixels\n3," + " ".join(["007"] * 2304) + "\n"
    _, pixels, _, rejections = read_all(text.encode())
    assert rejections == [] and (pixels == 7).all()


def test_usage_is_case_insensitive_and_normalised():
    batches, _, _, rejections = read_all(("emotion,pixels,Usage\n" + row(usage="publictest") + "\n").encode())
    assert rejections == [] and batches[0].usage.tolist() == ["PublicTest"]


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "the file is a PNG image, not a FER2013 CSV"),
    (b"\xff\xd8\xff\xe0" + bytes(100), "the file is a JPEG image, not a FER2013 CSV"),
    (b"name,age\nbob,3\n",
     "no FER2013 header: line 1 must name the columns emotion,pixels[,Usage]; missing emotion, pixels"),
    (b"emotion,usage\n1,Training\n", "missing pixels"),
    (b"\x00\x01\x02\xfe\xff" * 40, "not"),
    (b"emotion,pixels,pixels\n", "more than once"),
])
def test_files_that_cannot_be_fer2013_are_rejected_whole(data, message):
    with pytest.raises(InvalidDataset) as error:
        read_all(data)
    assert message in str(error.value)


def test_binary_after_a_valid_header_is_rejected_whole():
    data = b"emotion,pixels\n" + bytes(range(128, 256)) * 4
    with pytest.raises(InvalidDataset, match=r"^line 2: byte 0x80 in field 1 is not UTF-8"):  # the line named
        read_all(data)


def test_memory_is_bounded_by_the_batch_size():
    text = csv_text(np.zeros(50, int), np.zeros((50, 48, 48), np.uint8), ["Training"] * 50)
    batches, pixels, _, _ = read_all(text.encode(), batch_rows=8)
    assert max(len(b) for b in batches) == 8
    assert len(batches) == 7 and len(pixels) == 50


def test_writer_matches_the_straightforward_format():
    tail = ["Training,original,2", "Training,flip,3", "", "x", "PublicTest,original,9", "y"]
    expected = "".join(
        f"{int(LABELS[i])},{' '.join(str(v) for v in PIXELS[i].ravel())}" + (f",{tail[i]}" if tail[i] else "") + "\n"
        for i in range(6))
    assert dataset.format_rows(LABELS, PIXELS, tail) == expected.encode()


def test_writer_round_trips_extreme_values():
    pixels = np.stack([np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8),
                       np.arange(2304).reshape(48, 48).astype(np.uint8)])
    text = dataset.csv_header(True, refined=True) + dataset.format_rows(
        np.array([0, 6, 3]), pixels, ["Training,original,2", "Training,original,3", "PublicTest,original,4"])
    faces, rejections = dataset.read_faceset(io.BytesIO(text))
    assert not rejections
    np.testing.assert_array_equal(faces.pixels, pixels)
    assert faces.source.tolist() == [2, 3, 4]


def test_read_faceset_with_no_valid_row_says_why():
    with pytest.raises(NoValidRows, match=r"all 1 data rows were rejected \(line 2: emotion 9 is outside 0..6\)"):
        dataset.read_faceset(io.BytesIO(("emotion,pixels\n" + "9," + " ".join(["1"] * 2304) + "\n").encode()))


def test_a_quoted_field_with_a_line_break_is_named_by_the_line_it_starts_on():
    pixels = " ".join(str(v) for v in PIXELS[1].ravel())
    split = pixels[:100] + "\n" + pixels[100:]
    text = valid_csv().splitlines()
    text.insert(2, f'1,"{split}",Training')  # starts on line 3, ends on line 4
    _, _, labels, rejections = read_all(("\n".join(text) + "\n").encode())
    assert [str(r) for r in rejections] == [
        "line 3: the row spans lines 3-4: a quoted field holds a line break"]
    assert len(labels) == 6
    batches, _, _, _ = read_all(("\n".join(text) + "\n").encode())
    assert batches[0].lines.tolist() == [2, 5, 6, 7, 8, 9]  # the rows after it keep their own lines


def test_a_huge_single_line_file_is_refused_naming_line_1():
    with pytest.raises(InvalidDataset, match=r"^line 1: a field is longer than 64 KiB .*not a FER2013 CSV$"):
        read_all(b"emotion," + b"9" * 5_000_000)
