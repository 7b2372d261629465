"""A straightforward first version of the augmentation step, kept only as a benchmark baseline.

Whole file read into memory, per-image PIL flip and rotate, output built as one string.
"""

from __future__ import annotations

import gzip
import random
from typing import Any

import numpy as np
from PIL import Image


def reference_augment(client: Any, bucket: str, key: str, out_bucket: str, out_key: str, copies: int = 3) -> int:
    """Augment s3://bucket/key the naive way; returns the number of rows written."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    lines = body.decode("utf-8-sig").splitlines()
    rng = random.Random(0)
    out = "emotion,pixels,Usage,augmentation,source\n"
    written = 0
    for number, line in enumerate(lines[1:], start=2):
        label, pixels, usage = line.split(",")
        values = [int(v) for v in pixels.split()]
        out += f"{label},{pixels},{usage},original,{number}\n"
        written += 1
        if usage != "Training":
            continue
        image = Image.fromarray(np.array(values, dtype=np.uint8).reshape(48, 48))
        for _ in range(copies):
            copy = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image
            copy = copy.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
            text = " ".join(str(v) for v in np.asarray(copy).ravel())
            out += f"{label},{text},{usage},flip+rotate,{number}\n"
            written += 1
    client.put_object(Bucket=out_bucket, Key=out_key, Body=gzip.compress(out.encode(), compresslevel=1))
    return written
