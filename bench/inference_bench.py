"""Benchmark: inference of a model bundle with onnxruntime on one core.

    python -m bench.inference_bench [--model models/latest.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Time single faces and batches of 64; print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "latest.json"))
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from facemood.bundle import load_bundle  # pylint: disable=import-outside-toplevel

    model = load_bundle(args.model, threads=1)
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (1, 48, 48), dtype=np.uint8)
    batch = rng.integers(0, 256, (64, 48, 48), dtype=np.uint8)
    for _ in range(20):
        model.predict_proba(one)
    singles = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.predict_proba(one)
        singles.append(time.perf_counter() - start)
    start = time.perf_counter()
    rounds = max(args.repeats // 10, 5)
    for _ in range(rounds):
        model.predict_proba(batch)
    per_batch = (time.perf_counter() - start) / rounds
    flip = model.manifest.get("config", {}).get("model", {}).get("flip_tta")
    print(f"model {model.run_id} ({Path(model.uri).name}), onnxruntime on one core, flip TTA in the graph: {flip}")
    print(f"batch of 1: median {statistics.median(singles) * 1e3:.2f} ms per face "
          f"(p90 {np.percentile(singles, 90) * 1e3:.2f} ms)")
    print(f"batch of 64: {64 / per_batch:.0f} faces/s ({per_batch * 1e3:.1f} ms per batch)")


if __name__ == "__main__":
    main()
