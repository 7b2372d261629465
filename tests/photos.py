"""Test photos built from real FER2013 faces (the same synthesis as bench/face_bench.py)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from bench.face_bench import encode_jpeg, make_photo

__all__ = ["encode_jpeg", "make_photo", "encode", "event_for", "upscaled"]


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    """Encode a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def event_for(data: bytes) -> dict:
    """The face Lambda's request for photo bytes."""
    return {"image": base64.b64encode(data).decode()}


def upscaled(face: np.ndarray, side: int) -> np.ndarray:
    """A FER2013 face upscaled to side x side, RGB."""
    big = np.asarray(Image.fromarray(face).resize((side, side), Image.Resampling.BICUBIC))
    return np.repeat(big[..., None], 3, axis=2)
