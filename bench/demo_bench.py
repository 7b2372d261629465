"""Benchmark: `make demo` from a fresh clone, as a new developer runs it: seconds until the page
answers, the install's share of them, and the size of the virtual environment it made (with the
byte-code Python compiled for what the page imported: the install itself compiles nothing).

    python -m bench.demo_bench                # pip's download cache as this machine has it
    python -m bench.demo_bench --no-pip-cache # every wheel downloaded again

The clone is of this repository's committed HEAD (uncommitted edits are not in it), in a
temporary folder removed afterwards. The page counts as up when the demo prints its address and
Streamlit's health check answers there.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from facemood.config import REPO_ROOT

ADDRESS = re.compile(r"Open (http://127\.0\.0\.1:\d+) in a browser")


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (links not followed), as `du -sb` counts them."""
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def healthy(url: str) -> bool:
    """Whether Streamlit's health check at ``url`` answers."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def time_demo(clone: Path, environment: dict[str, str], limit: float) -> tuple[float, float, str]:
    """Start `make demo` in ``clone``; return (seconds to the page, seconds to the installed
    stamp, the page's address), then stop the demo as Ctrl-C would."""
    started = time.monotonic()
    # stopped in the finally below, as Ctrl-C stops it
    demo = subprocess.Popen(["make", "demo"], cwd=clone, env=environment,  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    installed, url = None, None
    try:
        for line in demo.stdout:
            if installed is None and (clone / ".venv" / ".extras-app+local").exists():
                installed = time.monotonic() - started
            if match := ADDRESS.search(line):
                url = match[1]
                break
            if time.monotonic() - started > limit:
                break
        if url is None:
            raise SystemExit(f"the demo did not print its address within {limit:.0f} s")
        while not healthy(url):
            if time.monotonic() - started > limit:
                raise SystemExit(f"the page at {url} did not answer within {limit:.0f} s")
            time.sleep(0.1)
        return time.monotonic() - started, installed or float("nan"), url
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)


def main() -> None:
    """Clone, run the demo to its page, measure, clean up."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-pip-cache", action="store_true", help="download every wheel again")
    parser.add_argument("--limit", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facemood-demo-bench-") as folder:
        clone = Path(folder) / "facemood"
        subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
        shared = REPO_ROOT.parent / "shared"
        if shared.exists():  # as in a developer's checkout: ../shared beside the clone
            (Path(folder) / "shared").symlink_to(shared)
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("FACEMOOD_", "AWS_"))}
        environment.pop("VIRTUAL_ENV", None)
        environment.pop("PYTHONDONTWRITEBYTECODE", None)  # as a developer's shell: Python keeps what it compiles
        environment["PATH"] = os.pathsep.join(p for p in environment["PATH"].split(os.pathsep)
                                              if not p.startswith(str(REPO_ROOT)))
        if args.no_pip_cache:
            environment["PIP_NO_CACHE_DIR"] = "1"
        to_page, installed, url = time_demo(clone, environment, args.limit)
        size = folder_bytes(clone / ".venv")
        byte_code = sum(folder_bytes(cache) for cache in (clone / ".venv").rglob("__pycache__"))
        largest = sorted(((folder_bytes(p), p.name) for p in (clone / ".venv").glob("lib/python*/site-packages/*")
                          if p.is_dir()), reverse=True)[:6]
    cache = "no pip cache" if args.no_pip_cache else "pip's cache as this machine has it"
    print(f"make demo from a fresh clone ({cache}): the page answered at {url} after {to_page:.1f} s "
          f"(the install done at {installed:.1f} s)")
    print(f"the demo's .venv: {size / 1e6:,.0f} MB ({size / 2**20:,.0f} MiB), of which {byte_code / 1e6:,.0f} MB is "
          f"byte-code Python wrote as the page started; largest packages: "
          + ", ".join(f"{name} {nbytes / 1e6:.0f} MB" for nbytes, name in largest))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
