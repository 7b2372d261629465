"""Test photos built from real FER2013 faces; the face benchmark builds its photos here too."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def make_photo(rng: np.random.Generator, faces: list[np.ndarray], size: tuple[int, int]):
    """Place ``faces`` (48x48) upscaled on a (width, height) background; return RGB photo and true boxes."""
    import cv2

    width, height = size
    base = rng.integers(20, 236)
    gradient = np.linspace(-30, 30, width)[None, :] * rng.uniform(-1, 1)
    background = np.clip(base + gradient + rng.normal(0, 8, (height, width)), 0, 255)
    photo = np.repeat(background[..., None], 3, axis=2).astype(np.uint8)
    tint = rng.uniform(0.85, 1.15, 3)
    boxes = []
    scale = min(width, height) / 480
    for face in faces:
        for _ in range(50):
            side = int(rng.integers(96, 401) * scale) if len(faces) == 1 else int(rng.integers(96, 231) * scale)
            side = min(side, height - 1, width // len(faces) - 1)
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            if all(x + side <= bx or bx + bs <= x or y + side <= by or by + bs <= y for bx, by, bs in boxes):
                break
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        photo[y:y + side, x:x + side] = np.clip(big[..., None] * tint, 0, 255).astype(np.uint8)
        boxes.append((x, y, side))
    return photo, boxes


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    """Encode a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """JPEG bytes (quality 92) of an RGB array, as a phone would send."""
    return encode(Image.fromarray(rgb), "JPEG", quality=92)


def event_for(data: bytes) -> dict:
    """The face Lambda's request for photo bytes."""
    return {"image": base64.b64encode(data).decode()}


def upscaled(face: np.ndarray, side: int) -> np.ndarray:
    """A FER2013 face upscaled to side x side, RGB."""
    big = np.asarray(Image.fromarray(face).resize((side, side), Image.Resampling.BICUBIC))
    return np.repeat(big[..., None], 3, axis=2)


# scikit-image's sample photos without a human face: an animal, objects, textures, text, science.
FACELESS_SAMPLES = ("chelsea", "coffee", "rocket", "horse", "brick", "grass", "gravel", "text", "page",
                    "coins", "clock", "moon", "hubble_deep_field", "immunohistochemistry", "retina",
                    "logo", "cell", "colorwheel")


def faceless_sample(name: str) -> np.ndarray:
    """One of scikit-image's sample photos as uint8 RGB (``astronaut`` and ``camera`` do show a face)."""
    from skimage import data, util

    image = util.img_as_ubyte(getattr(data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def faceless_photos(count: int, seed: int = 7) -> list[tuple[str, np.ndarray]]:
    """``count`` photos without a face: each sample whole, then random crops (40-100% of each
    side) of them, as a phone camera might frame a pet, a mug or a page."""
    rng = np.random.default_rng(seed)
    samples = [(name, faceless_sample(name)) for name in FACELESS_SAMPLES]
    photos = list(samples[:count])
    while len(photos) < count:
        name, image = samples[int(rng.integers(len(samples)))]
        height, width = image.shape[:2]
        h, w = int(height * rng.uniform(0.4, 1.0)), int(width * rng.uniform(0.4, 1.0))
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        photos.append((f"{name} crop", np.ascontiguousarray(image[y:y + h, x:x + w])))
    return photos


def labelled_folder(folder, names: list[str], emotion: str):
    """A photo folder whose ``labels.csv`` lists ``names``, each an empty file (for code that reads
    names only, as the person split does)."""
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_bytes(b"")
    (folder / "labels.csv").write_text("file,emotion\n" + "".join(f"{n},{emotion}\n" for n in names))
    return folder
