"""Benchmark: a FER2013-sized CSV through the augmentation Lambda handler on one core.

Builds a 35,887-row CSV (about 290 MB) from the real FER2013 faces (as the tests find them), starts moto's S3
server in its own process, then in a fresh child process pinned to one core runs
(1) the handler with the default augmentation and (2) a straightforward reference.
Prints wall time, peak RSS and the ratio. Targets: <= 15 s, <= 300 MiB.

    python -m bench.augment_bench [--rows 35887] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from local_stack.s3_server import free_port
from tests.fer2013 import fer2013_path, load_fer2013

REPO = Path(__file__).resolve().parent.parent
RAW, REFINED = "bench-raw", "bench-refined"


def build_csv(path: Path, rows: int) -> None:
    """FER2013-shaped CSV: Training, PublicTest, and PublicTest faces again as PrivateTest to reach ``rows``."""
    from facemood import dataset

    data = load_fer2013(fer2013_path())
    pixels, labels, usage = data["pixels"], data["emotion"], data["usage"]
    index = np.resize(np.arange(len(labels)), rows)
    split = usage[index].astype(object)
    split[len(labels):] = "PrivateTest"
    with open(path, "wb") as out:
        out.write(dataset.csv_header(True, refined=False))
        for start in range(0, rows, 4096):
            part = index[start:start + 4096]
            out.write(dataset.format_rows(labels[part], pixels[part], list(split[start:start + len(part)])))


def measure(mode: str, endpoint: str, key: str) -> dict:
    """Run one implementation in this (fresh, one-core) process; return its figures."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    from dataclasses import replace

    from facemood import storage
    from facemood.augment import load_augment_settings
    from facemood.config import Buckets

    client = storage.s3_client(endpoint_url=endpoint)
    started = time.perf_counter()
    if mode == "handler":
        from lambdas import augment

        settings = replace(load_augment_settings(), buckets=Buckets(RAW, REFINED, "bench-models"))
        etag = client.head_object(Bucket=RAW, Key=key)["ETag"]
        event = {"Records": [{"s3": {"bucket": {"name": RAW}, "object": {"key": key, "eTag": etag}}}]}
        result = augment.handler(event, None, client=client, settings=settings)["results"][0]
        rows = result["rows_written"]
    else:
        from bench.reference_augment import reference_augment

        rows = reference_augment(client, RAW, key, REFINED, "reference/out.csv.gz")
    wall = time.perf_counter() - started
    return {"mode": mode, "wall_s": round(wall, 2), "rows_written": rows,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    """Build the input, start the server, measure both implementations, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=35_887)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--measure", choices=["handler", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.endpoint, args.key)))
        return
    if not fer2013_path().exists():
        sys.exit(f"needs the real FER2013 data at {fer2013_path()} (or set FACEMOOD_FER2013)")
    work = REPO / "runs" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / f"fer2013-{args.rows}.csv"
    if not csv_path.exists():
        build_csv(csv_path, args.rows)
    size_mb = csv_path.stat().st_size / 1e6
    port = free_port()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    env = dict(os.environ)
    # pylint: disable-next=consider-using-with  # the server runs across the measurements; stopped below
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        from facemood import storage

        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        client = storage.s3_client(endpoint_url=endpoint)
        for bucket in (RAW, REFINED):
            client.create_bucket(Bucket=bucket)
        key = csv_path.name
        client.upload_file(str(csv_path), RAW, key)
        figures = {}
        for mode in ["handler"] + ([] if args.skip_reference else ["reference"]):
            command = [sys.executable, "-m", "bench.augment_bench", "--measure", mode, "--endpoint", endpoint,
                       "--key", key]
            out = subprocess.run(command,
                                 check=True, capture_output=True, text=True, env=env, cwd=REPO)
            figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait()
    handler = figures["handler"]
    print(f"input: {args.rows} rows, {size_mb:.0f} MB CSV; default augmentation (original + 3 copies of Training)")
    print(f"handler:   {handler['wall_s']:7.2f} s wall on one core, peak RSS {handler['peak_rss_mib']:6.1f} MiB, "
          f"{handler['rows_written']} rows written  (targets: <= 15 s, <= 300 MiB)")
    if "reference" in figures:
        ref = figures["reference"]
        print(f"reference: {ref['wall_s']:7.2f} s wall on one core, peak RSS {ref['peak_rss_mib']:6.1f} MiB, "
              f"{ref['rows_written']} rows written")
        print(f"speed-up: {ref['wall_s'] / handler['wall_s']:.1f}x; "
              f"peak RSS ratio (reference / handler): {ref['peak_rss_mib'] / handler['peak_rss_mib']:.1f}")


if __name__ == "__main__":
    main()
