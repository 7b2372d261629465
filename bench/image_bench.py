"""Benchmark: the images `make images` built: each one's size against its budget, and the face
Lambda's cold start in its image (container start, runtime client, handler import and first call
on a 640x480 photo), then a warm call, each timed through the Lambda Runtime API.

    python -m bench.image_bench [--repeats 3]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time

import numpy as np

from local_stack.s3_server import local_environment, start_s3_server
from tests.images import LAMBDA_ENVIRONMENT, container, podman, require_image
from tests.lambda_runtime import LambdaRuntimeApi
from tests.photos import encode_jpeg, make_photo

BUDGETS_MB = {"lambda": 600, "app": 1200, "pipeline": None}  # training: whatever torch's CPU build needs


def image_sizes() -> None:
    """Print each image's size and its budget."""
    for name, budget in BUDGETS_MB.items():
        image = require_image(name)
        size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout) / 1e6
        verdict = f"budget {budget} MB" if budget else "no budget: torch's CPU build"
        print(f"{image:28s} {size:6.0f} MB  ({verdict})", flush=True)


def face_cold_start(repeats: int) -> None:
    """Start the face Lambda's container ``repeats`` times; time its first and second answers."""
    rng = np.random.default_rng(2)
    face = rng.integers(40, 200, (48, 48), dtype=np.uint8)
    photo, _ = make_photo(rng, [face], (640, 480))
    event = {"image": base64.b64encode(encode_jpeg(photo)).decode()}
    server = start_s3_server(port=0)
    cold, warm = [], []
    try:
        for _ in range(repeats):
            api = LambdaRuntimeApi()
            environment = {**LAMBDA_ENVIRONMENT, **local_environment(server.endpoint),
                           "AWS_LAMBDA_RUNTIME_API": api.address}
            try:
                started = time.perf_counter()
                with container(require_image("lambda"), "lambdas.face.handler",
                               environment=environment, show_log=False):
                    ok, _ = api.invoke(event)
                    cold.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    ok, _ = api.invoke(event)
                    warm.append(time.perf_counter() - started)
                    assert ok
            finally:
                api.close()
    finally:
        server.stop()
    print(f"face Lambda, 640x480 photo: cold start (container start + import + first call) median "
          f"{statistics.median(cold):.2f} s over {repeats}; a warm call {1000 * statistics.median(warm):.0f} ms; "
          f"cold / warm {statistics.median(cold) / statistics.median(warm):.0f}x", flush=True)


def main() -> None:
    """Sizes, then the face Lambda's cold start."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    image_sizes()
    face_cold_start(args.repeats)


if __name__ == "__main__":
    main()
