"""Benchmark: the face Lambda's cold start and warm latency, measured here on one core.

Cold start is what a new Lambda environment pays before its first answer: importing the
handler module (OpenCV, the MTCNN and face-presence networks) plus the first call. Each cold
start runs in a fresh Python process; the warm latency is the handler's median on later calls.
The event is a 640x480 JPEG with one face, as the app sends it.

    python -m bench.face_lambda_bench [--cold 5] [--warm 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.fer2013 import fer2013_path, load_fer2013
from tests.photos import encode_jpeg, event_for, make_photo

CHILD = """
import json, sys, time
started = time.perf_counter()
from lambdas import face
imported = time.perf_counter()
event = json.load(open(sys.argv[1]))
reply = face.handler(event, None)
first = time.perf_counter()
warm = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    face.handler(event, None)
    warm.append(time.perf_counter() - t)
print(json.dumps({"import": imported - started, "first_call": first - imported, "warm": warm,
                  "faces": len(reply.get("faces", []))}))
"""


def main() -> None:
    """Run fresh processes; print cold start and warm latency."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", type=int, default=5, help="fresh processes")
    parser.add_argument("--warm", type=int, default=100, help="calls after the first, in the last process")
    args = parser.parse_args()
    data = load_fer2013(fer2013_path())
    face = data["pixels"][np.flatnonzero(data["usage"] == "Training")[0]]
    photo, _ = make_photo(np.random.default_rng(3), [face], (640, 480))
    cpu = str(min(os.sched_getaffinity(0)))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        event_path = Path(folder) / "event.json"
        event_path.write_text(json.dumps(event_for(encode_jpeg(photo))))
        for run in range(args.cold):
            warm = args.warm if run == args.cold - 1 else 0
            output = subprocess.run(["taskset", "-c", cpu, sys.executable, "-c", CHILD, str(event_path), str(warm)],
                                    check=True, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
            results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    imports = [r["import"] * 1000 for r in results]
    firsts = [r["first_call"] * 1000 for r in results]
    colds = [i + f for i, f in zip(imports, firsts)]
    warm = [w * 1000 for w in results[-1]["warm"]]
    print(f"face Lambda handler, one core, {args.cold} fresh processes (faces found: {results[-1]['faces']})")
    print(f"  cold start: median {statistics.median(colds):.0f} ms (import {statistics.median(imports):.0f} ms + "
          f"first call {statistics.median(firsts):.0f} ms); slowest {max(colds):.0f} ms")
    if warm:
        print(f"  warm: median {statistics.median(warm):.1f} ms, p95 {np.percentile(warm, 95):.1f} ms "
              f"over {len(warm)} calls")


if __name__ == "__main__":
    main()
