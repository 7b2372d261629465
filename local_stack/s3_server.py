"""moto's server on loopback: a real S3 (and DynamoDB, Lambda...) API that boto3 reaches over HTTP."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

from facemood import aws, storage
from facemood.config import ENV

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
# moto accepts any credentials; real ones must never reach the local server.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "aws_session_token": "local"}


@dataclass
class S3Server:
    """A running moto server and the endpoint that reaches it."""

    server: Any
    endpoint: str

    def client(self, region: str = "us-east-1") -> Any:
        """A boto3 S3 client on this server, with the local dummy credentials."""
        return storage.s3_client(self.endpoint, region, **LOCAL_CREDENTIALS)

    def client_for(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client for another service on this server (DynamoDB, Secrets Manager...)."""
        return aws.aws_client(service, region, self.endpoint, **LOCAL_CREDENTIALS)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; gives up waiting after ``timeout`` (the thread is a daemon)."""
        stopper = threading.Thread(target=self.server.stop, daemon=True)
        stopper.start()
        stopper.join(timeout)

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API)."""
        import urllib.request  # here, not at the top: each command imports this module (15 ms of its start)

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


def port_is_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be bound now by a server (which, like moto's and Streamlit's,
    reuses an address whose old connections linger in TIME_WAIT after a quick restart)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A port on ``host`` that is free now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start_s3_server(port: int = 0, host: str = LOOPBACK) -> S3Server:
    """Start moto's server in a background thread on ``host:port`` (0: any free port)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    endpoint = f"http://{bound_host}:{bound_port}"
    log.info("S3 server (moto) listening on %s", endpoint)
    return S3Server(server, endpoint)


def local_environment(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """The environment that points boto3 (in another process) at the local server."""
    return {ENV.ENDPOINT: endpoint, ENV.REGION: region,
            **{name.upper(): value for name, value in LOCAL_CREDENTIALS.items()}}
