"""Random transforms of (n,48,48) uint8 face batches: the copies the augmentation step writes.

Every transform works on a whole batch with numpy array operations. Geometric
transforms (rotation, shift, scale, and an optional flip folded into the same warp)
are one inverse affine warp with bilinear sampling and replicated edges, so rotated
faces never get black corners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facemood import config as cfg


@dataclass(frozen=True)
class TransformSettings:
    """How many copies of each Training face to make, and how to vary them
    (the ``transforms`` section of ``config/augment.yaml``)."""

    copies: int
    seed: int
    flip: bool
    rotation_deg: float  # uniform in +- this many degrees
    shift_fraction: float  # up to this fraction of the side, in x and y
    scale_min: float
    scale_max: float
    brightness: float  # +- fraction of the full range
    contrast: float  # +- fraction around the image mean

    def __post_init__(self) -> None:
        cfg.check_range("copies", self.copies, 0, 20)
        cfg.check_range("rotation_deg", self.rotation_deg, 0.0, 180.0)
        cfg.check_range("shift_fraction", self.shift_fraction, 0.0, 0.5)
        cfg.check_range("scale_min", self.scale_min, 0.0, open_low=True)
        cfg.check_range("scale_max", self.scale_max, self.scale_min)
        cfg.check_range("brightness", self.brightness, 0.0, 1.0)
        cfg.check_range("contrast", self.contrast, 0.0, 1.0)

    @property
    def geometric(self) -> bool:
        """True when copies get a rotation, shift or scale."""
        return self.rotation_deg > 0 or self.shift_fraction > 0 or self.scale_min != 1 or self.scale_max != 1

    @property
    def photometric(self) -> bool:
        """True when copies get a brightness or contrast change."""
        return self.brightness > 0 or self.contrast > 0

    def copy_name(self) -> str:
        """The name written in the refined file's augmentation column for a copy."""
        parts = (["flip"] if self.flip else []) + (["affine"] if self.geometric else []) + (
            ["color"] if self.photometric else [])
        return "+".join(parts) or "copy"


def hflip(faces: np.ndarray) -> np.ndarray:
    """Mirror every face left to right."""
    return faces[:, :, ::-1].copy()


def affine_warp(faces: np.ndarray, angle_deg: np.ndarray, scale: np.ndarray, shift_x: np.ndarray,
                shift_y: np.ndarray, flip: np.ndarray | None = None) -> np.ndarray:
    """Rotate (degrees, about the centre), scale, shift (pixels) and optionally mirror each face.

    All parameters are per-face arrays of shape (n,). Sampling is bilinear; coordinates
    outside the image take the nearest edge pixel. OpenCV warps each face (about 6x faster than
    the same inverse map gathered with numpy, which was most of the augmentation's time).
    """
    import cv2

    n, h, w = faces.shape
    out = np.empty_like(faces)
    if n == 0:
        return out
    theta = np.deg2rad(np.asarray(angle_deg, np.float64))
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    mirror = np.where(flip, -1.0, 1.0) if flip is not None else np.ones(n)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # The inverse map, output pixel (x, y) -> where to read: x' = m(cos(x-cx) + sin(y-cy)) + cx - m*shift_x,
    # y' = -sin(x-cx) + cos(y-cy) + cy - shift_y, as one 2x3 matrix per face.
    maps = np.empty((n, 2, 3))
    maps[:, 0, 0], maps[:, 0, 1] = mirror * cos, mirror * sin
    maps[:, 0, 2] = cx - mirror * (cos * cx + sin * cy) - mirror * shift_x
    maps[:, 1, 0], maps[:, 1, 1] = -sin, cos
    maps[:, 1, 2] = cy + sin * cx - cos * cy - shift_y
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for face, matrix, target in zip(faces, maps, out):
        cv2.warpAffine(face, matrix, (w, h), dst=target, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return out


def adjust_brightness_contrast(faces: np.ndarray, brightness: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """Scale each face's contrast about its mean by ``contrast`` and add ``brightness`` (0..255 units)."""
    x = faces.astype(np.float32)
    mean = x.mean(axis=(1, 2), keepdims=True)
    out = (x - mean) * contrast[:, None, None] + mean + brightness[:, None, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def random_copy(faces: np.ndarray, settings: TransformSettings, rng: np.random.Generator) -> np.ndarray:
    """One randomly varied copy of every face in the batch."""
    n = len(faces)
    out = faces
    flip = rng.random(n) < 0.5 if settings.flip else None
    if settings.geometric:
        side = faces.shape[1]
        limit = settings.shift_fraction * side
        out = affine_warp(out, rng.uniform(-settings.rotation_deg, settings.rotation_deg, n).astype(np.float32),
                          rng.uniform(settings.scale_min, settings.scale_max, n).astype(np.float32),
                          rng.uniform(-limit, limit, n).astype(np.float32),
                          rng.uniform(-limit, limit, n).astype(np.float32), flip)
    elif flip is not None:
        out = np.where(flip[:, None, None], faces[:, :, ::-1], faces)
    if settings.photometric:
        out = adjust_brightness_contrast(
            out, rng.uniform(-settings.brightness, settings.brightness, n).astype(np.float32) * 255,
            rng.uniform(1 - settings.contrast, 1 + settings.contrast, n).astype(np.float32))
    return out


WARP_CHUNK = 256  # faces warped at once: keeps float32 temporaries small and in cache


def augmented_copies(faces: np.ndarray, settings: TransformSettings, batch_seed: int) -> list[np.ndarray]:
    """``settings.copies`` augmented copies of ``faces``, deterministic for (seed, batch_seed)."""
    rng = np.random.default_rng([settings.seed, batch_seed])
    copies = []
    for _ in range(settings.copies):
        parts = [random_copy(faces[i:i + WARP_CHUNK], settings, rng) for i in range(0, len(faces), WARP_CHUNK)]
        copies.append(np.concatenate(parts) if parts else faces.copy())
    return copies
