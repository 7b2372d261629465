"""A second opinion on a face box: does the crop hold a human face at all?

MTCNN boxes animal faces, wheels and textures with middling scores (a cat scores 0.63; the
threshold that keeps FER2013's small, blurry faces is 0.4). MediaPipe's face landmark network
was trained to say whether its 192x192 input still holds a face (its "face flag", used to drop
lost faces while tracking), so a box that MTCNN is unsure of is kept only when that network
agrees. It reads an upright crop around the box, rotated so the eyes are level as MediaPipe does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from facemood.mtcnn import Detection, without_fusion

MODEL_PATH = Path(__file__).resolve().parent / "data" / "face_landmark.tflite"
INPUT_SIDE = 192
ROI_SCALE = 1.4  # crop side / box side (MediaPipe uses 1.5 on its own, looser boxes)
PRESENCE_OUTPUT = "conv2d_30"  # the face-flag logit; "conv2d_20" holds the 468 landmarks


class FacePresence:
    """The probability that a detected box holds a human face. One call at a time (OpenCV's
    networks keep per-call state): the caller's lock covers it."""

    def __init__(self, model_path: Path = MODEL_PATH) -> None:
        import cv2

        self._cv2 = cv2
        self._net = without_fusion(cv2.dnn.readNetFromTFLite(str(model_path)))

    def crop(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        """The 192x192 RGB input for ``detection``: a square around its box, eyes level."""
        x1, y1, x2, y2 = detection.box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = max(x2 - x1, y2 - y1, 1.0) * ROI_SCALE
        (left_x, left_y), (right_x, right_y) = detection.landmarks[0], detection.landmarks[1]
        angle = math.degrees(math.atan2(right_y - left_y, right_x - left_x))
        warp = self._cv2.getRotationMatrix2D((cx, cy), angle, INPUT_SIDE / side)
        warp[0, 2] += INPUT_SIDE / 2 - cx
        warp[1, 2] += INPUT_SIDE / 2 - cy
        return self._cv2.warpAffine(rgb, warp, (INPUT_SIDE, INPUT_SIDE), borderMode=self._cv2.BORDER_REPLICATE)

    def __call__(self, rgb: np.ndarray, detection: Detection) -> float:
        """Probability in [0, 1] that ``detection``'s box in ``rgb`` is a human face."""
        self._net.setInput(self._cv2.dnn.blobFromImage(self.crop(rgb, detection), 1 / 255.0))
        logit = float(self._net.forward([PRESENCE_OUTPUT])[0].ravel()[0])
        return 1.0 / (1.0 + math.exp(-logit))
