"""Run the images `make images` built (podman, host network) for the image smoke tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from facemood.config import REPO_ROOT

CONTAINERS_CONF = REPO_ROOT / "dockerfiles" / "local-base" / "containers.conf"
REQUIRE = "FACEMOOD_REQUIRE_IMAGES"  # CI sets it: a missing image fails the test instead of skipping it
LAMBDA_ENVIRONMENT = {  # what Lambda sets for every function (awslambdaric's context reads them)
    "AWS_LAMBDA_FUNCTION_NAME": "facemood-test", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/facemood-test",
    "AWS_LAMBDA_LOG_STREAM_NAME": "smoke", "AWS_REGION": "us-east-1",
}


# A container on podman's default bridge network adds interfaces to the host as it starts and
# removes them as it stops; Chromium hears of it and aborts the loads it has in flight with
# net::ERR_NETWORK_CHANGED, so a browser test on the other pytest worker sees a blank page.
NETWORKS_THAT_ADD_NO_INTERFACE = ("--network=host", "--network=none")


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """One podman command with the project's containers.conf (runc, no default ulimits). A ``run``
    must name the host network or none (NETWORKS_THAT_ADD_NO_INTERFACE says why)."""
    if args[:1] == ("run",) and not set(args) & set(NETWORKS_THAT_ADD_NO_INTERFACE):
        raise ValueError(f"podman run needs one of {', '.join(NETWORKS_THAT_ADD_NO_INTERFACE)}: a bridge network "
                         f"changes the host's interfaces under the browser tests ({' '.join(args)})")
    environment = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check,
                          env=environment)


def require_image(name: str) -> str:
    """``localhost/facemood-<name>``; skips (fails where ``FACEMOOD_REQUIRE_IMAGES=1``) when podman
    or the image is missing."""
    image = f"localhost/facemood-{name}"
    reason = None
    if shutil.which("podman") is None:
        reason = "podman is not installed (.ci/run installs it with apt-get)"
    elif podman("image", "exists", image, check=False).returncode != 0:
        reason = f"{image} is not built: run `make images`"
    if reason:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return image


@contextmanager
def container(image: str, *args: str, environment: dict[str, str] | None = None,
              show_log: bool = True) -> Iterator[str]:
    """A detached container of ``image`` on the host network (it reaches the loopback services);
    yields its name; on the way out prints its log (pytest shows it when a test fails) unless not
    ``show_log``, and removes it."""
    name = f"facemood-smoke-{uuid.uuid4().hex[:8]}"
    options = [f"--env={key}={value}" for key, value in (environment or {}).items()]
    podman("run", "--detach", "--network=host", f"--name={name}", *options, image, *args)
    try:
        yield name
    finally:
        if show_log:
            print(podman("logs", name, check=False).stdout[-4000:])
        podman("rm", "--force", "--time=2", name, check=False)


def run_to_end(image: str, *args: str, environment: dict[str, str] | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a container of ``image`` until it exits (host network); its exit code and output."""
    options = [f"--env={key}={value}" for key, value in (environment or {}).items()]
    return podman("run", "--rm", "--network=host", *options, image, *args, timeout=timeout, check=False)
