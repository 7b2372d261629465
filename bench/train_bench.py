"""Benchmark: training throughput (images/s) of a config on this machine, and the
projected wall time of its full run.

    python -m bench.train_bench [--config config/model-fer2013.yaml] [--rows 28709] [--batches 30] [--emulated-bf16]

The run trains as the pipeline would on this CPU (bfloat16 only where it is native).
``--emulated-bf16`` also times a few batches with bfloat16 forced on, for the ratio.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Time training batches and a validation pass; print the projection."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "config" / "model-fer2013.yaml"))
    parser.add_argument("--rows", type=int, default=28_709, help="training rows of the full run")
    parser.add_argument("--validation-rows", type=int, default=3_589)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--emulated-bf16", action="store_true", help="also time bfloat16 forced on (a few batches)")
    args = parser.parse_args()

    import torch

    from facemood.faceset import FaceSet
    from pipeline.main import build_model
    from pipeline.settings import load_pipeline_settings
    from pipeline.train import evaluate, fit, native_bf16, resolved_training

    settings = load_pipeline_settings(args.config)
    native = native_bf16()
    training = resolved_training(settings.training, native)  # as the pipeline runs it on this CPU
    torch.set_num_threads(training.threads)
    rng = np.random.default_rng(0)
    n = training.batch_size * args.batches
    faces = FaceSet(rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n))
    validation = FaceSet(rng.integers(0, 256, (args.validation_rows, 48, 48), dtype=np.uint8),
                         rng.integers(0, 7, args.validation_rows))
    model = build_model(settings)
    from dataclasses import replace

    warm = replace(training, epochs=1, max_batches_per_epoch=3)
    fit(model, faces, FaceSet(validation.pixels[:64], validation.labels[:64]), warm, settings.batch_transforms, False)
    started = time.perf_counter()
    fit(model, faces, FaceSet(validation.pixels[:2], validation.labels[:2]), replace(training, epochs=1),
        settings.batch_transforms, False)
    train_seconds = time.perf_counter() - started
    throughput = n / train_seconds
    started = time.perf_counter()
    evaluate(model, validation, settings.model.flip_tta, training.bf16)
    eval_seconds = time.perf_counter() - started
    epoch = math.ceil(args.rows / training.batch_size) * training.batch_size / throughput + eval_seconds
    print(f"config {args.config}: widths {list(settings.model.widths)}, batch {training.batch_size}, "
          f"bf16 {training.bf16} (asked: {settings.training.bf16}; native on this CPU: {native}), "
          f"{training.threads} threads")
    print(f"training throughput: {throughput:.0f} images/s ({n} images with on-the-fly augmentation)")
    print(f"validation pass: {eval_seconds:.1f} s for {args.validation_rows} faces "
          f"(flip TTA: {settings.model.flip_tta})")
    if args.emulated_bf16:
        few = FaceSet(faces.pixels[:training.batch_size * 3], faces.labels[:training.batch_size * 3])
        forced = {}
        for bf16 in (True, False):
            started = time.perf_counter()
            fit(model, few, FaceSet(validation.pixels[:2], validation.labels[:2]),
                replace(training, epochs=1, bf16=bf16), settings.batch_transforms, False)
            forced[bf16] = (time.perf_counter() - started) / 3
        print(f"bfloat16 forced on: {forced[True]:.1f} s a batch against {forced[False]:.1f} s in float32 "
              f"(ratio {forced[True] / forced[False]:.1f}; native on this CPU: {native})")
    print(f"projected full run: {training.epochs} epochs x {epoch:.0f} s = {training.epochs * epoch / 60:.0f} min "
          f"per network on {args.rows} training rows")


if __name__ == "__main__":
    main()
