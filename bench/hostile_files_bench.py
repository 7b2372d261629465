"""Benchmark: peak memory and time of the augmentation step on poison files, each in a fresh
process through the Lambda's own path (``augment_stream`` with ``config/augment.yaml``'s limits).

    python -m bench.hostile_files_bench [--gib 1] [--max-seconds 240]

Each case is a small ``.csv.gz`` that inflates to ``--gib`` GiB after a valid header: NULs,
spaces (one endless line each), and blank lines (refused by the decompressed-text limit or the
time limit, whichever comes first). Prints, per case, the compressed size, the outcome, the
seconds and the process's peak resident memory; the target is under 512 MiB for every file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {"NULs": b"\0", "spaces": b" ", "blank lines": b"\n"}
CHUNK = 64 * 1024 * 1024

RUN_ONE = """
import io, json, resource, sys, time
from dataclasses import replace
from facemood.augment import Report, augment_stream, load_augment_settings
from facemood.errors import InvalidDataset
settings = load_augment_settings()
settings = replace(settings, limits=replace(settings.limits, max_seconds=float(sys.argv[2])))
started, outcome = time.monotonic(), "accepted"
with open(sys.argv[1], "rb") as source:
    try:
        augment_stream(source, io.BytesIO(), settings, Report(input={"uri": sys.argv[1]}))
    except InvalidDataset as exc:
        outcome = str(exc)
print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bomb(path: Path, byte: bytes, gib: float) -> None:
    """A gzip of a FER2013 header and then ``gib`` GiB of ``byte``, written in chunks."""
    from isal import igzip

    left = int(gib * 1024 ** 3)
    chunk = byte * CHUNK
    with igzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"emotion,pixels,Usage\n")
        while left > 0:
            out.write(chunk[:min(left, CHUNK)])
            left -= CHUNK


def main() -> None:
    """Build each poison file, run it in its own process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, byte in CASES.items():
            path = Path(folder) / "poison.csv.gz"
            bomb(path, byte, args.gib)
            done = subprocess.run([sys.executable, "-c", RUN_ONE, str(path), str(args.max_seconds)],
                                  capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout)
            print(f"{args.gib:g} GiB of {name} ({path.stat().st_size / 1024 ** 2:.1f} MiB compressed): "
                  f"{figures['seconds']:.1f} s, peak {figures['peak_mib']:.0f} MiB (target < 512 MiB): "
                  f"{figures['outcome']}")


if __name__ == "__main__":
    main()
