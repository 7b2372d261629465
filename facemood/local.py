"""The local stack: a real S3-compatible server (moto) on loopback, and its buckets."""

from __future__ import annotations

import logging
import os
import urllib.request
from dataclasses import dataclass
from typing import Any

from facemood.config import ENV

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
# moto accepts any credentials; real ones must never reach the local server.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


@dataclass
class S3Server:
    """A running moto server and the endpoint that reaches it."""

    server: Any
    endpoint: str

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def start_s3_server(port: int = 0, host: str = LOOPBACK) -> S3Server:
    """Start moto's S3 server in a background thread on ``host:port`` (0: any free port)."""
    from moto.server import ThreadedMotoServer  # pylint: disable=import-outside-toplevel

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    log.info("S3 server (moto) listening on %s", endpoint)
    return S3Server(server, endpoint)


def point_environment_at(endpoint: str, region: str = "us-east-1") -> None:
    """Point boto3 in this process (and children) at the local server with dummy credentials."""
    os.environ[ENV.ENDPOINT] = endpoint
    os.environ[ENV.REGION] = region
    os.environ.update(LOCAL_CREDENTIALS)
