"""The one edge to AWS: every boto3 client is built here (endpoint, region, timeouts and retries
from the environment and ``config/aws.yaml``), and botocore's errors are put in plain words here.
Core code takes clients as parameters and turns a failure into its own domain error with
:func:`aws_reason`; nothing else imports boto3 or botocore."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any

from facemood import config as cfg
from facemood.config import ENV, aws_region
from facemood.errors import ConfigError


@dataclass(frozen=True)
class AwsClientSettings:
    """``config/aws.yaml``: timeouts and retries of every AWS client."""

    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int

    def __post_init__(self) -> None:
        cfg.check_range("connect_timeout_s", self.connect_timeout_s, 0.0, 300.0, open_low=True)
        cfg.check_range("read_timeout_s", self.read_timeout_s, 0.0, 900.0, open_low=True)
        cfg.check_range("max_attempts", self.max_attempts, 1, 20)


@functools.cache
def aws_client_settings() -> AwsClientSettings:
    """The settings of ``config/aws.yaml`` (read once); a config folder without one uses the
    project's own."""
    path = cfg.config_path("aws.yaml")
    return cfg.load(AwsClientSettings, path if path.exists() else cfg.CONFIG_DIR / "aws.yaml")


def aws_client(service: str, region: str | None = None, endpoint_url: str | None = None, *,
               read_timeout_s: float | None = None, max_attempts: int | None = None, **credentials: str) -> Any:
    """A boto3 client for ``service`` (``s3``, ``dynamodb``, ``secretsmanager``, ``lambda``...);
    endpoint (AWS_ENDPOINT_URL: moto's server locally), region and credentials default to the
    environment; timeouts and retries to ``config/aws.yaml`` (a caller with its own deadline, the
    face step, passes ``read_timeout_s`` and ``max_attempts``).

    ``credentials`` are boto3's ``aws_access_key_id``/``aws_secret_access_key``/``aws_session_token``.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import InvalidRegionError

    limits = aws_client_settings()
    endpoint = endpoint_url or os.environ.get(ENV.ENDPOINT) or None
    if endpoint is not None and not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", endpoint):
        raise ConfigError(f"the AWS endpoint {endpoint!r} ({ENV.ENDPOINT} or the stack's) is not a URL: "
                          "expected http(s)://host[:port], e.g. http://127.0.0.1:4566")
    try:
        # A session of its own: boto3's default session caches the credentials it first found.
        return boto3.session.Session().client(
            service, endpoint_url=endpoint, region_name=region or aws_region(),
            config=Config(connect_timeout=limits.connect_timeout_s,
                          read_timeout=read_timeout_s or limits.read_timeout_s,
                          retries={"total_max_attempts": max_attempts or limits.max_attempts, "mode": "standard"}),
            **credentials,
        )
    except InvalidRegionError as exc:
        raise ConfigError(f"the AWS region {region or aws_region()!r} (AWS_DEFAULT_REGION) is not a region name: "
                          "expected e.g. us-east-1") from exc
    except ValueError as exc:  # botocore's word on a malformed endpoint
        raise ConfigError(f"the AWS endpoint {endpoint!r} cannot be used: {exc}") from exc


def s3_transfer_config(threshold: int, chunk: int) -> Any:
    """boto3's transfer settings for an upload: multipart above ``threshold`` bytes, in ``chunk``
    bytes, in this thread (a Lambda or a page's thread; no pool of its own)."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=threshold, multipart_chunksize=chunk, use_threads=False)


def aws_errors() -> tuple[type[Exception], ...]:
    """The exceptions an AWS call raises (botocore's client and transport errors), for ``except``."""
    from botocore.exceptions import BotoCoreError, ClientError

    return BotoCoreError, ClientError


def error_code(exc: Exception) -> str:
    """The service's error code of a failed call (``NoSuchKey``, ``ResourceNotFoundException``...),
    or "" for a transport error (which has no response)."""
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


NO_CREDENTIALS, NO_REGION, UNREACHABLE, TIMED_OUT = "no-credentials", "no-region", "unreachable", "timed-out"


def error_kind(exc: Exception) -> str:
    """What went wrong in a failed call: one of the transport kinds above, else the service's
    error code (``NoSuchKey``...), else ""."""
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(exc, NoRegionError):
        return NO_REGION
    if isinstance(exc, EndpointConnectionError):
        return UNREACHABLE
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return TIMED_OUT
    return error_code(exc)


def endpoint_of(exc: Exception) -> str:
    """The endpoint a call could not reach (for an ``UNREACHABLE`` error)."""
    return str(getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint"))


def _known_reason(kind: str, exc: Exception, target: str) -> str | None:
    """The wording of the failures FaceMood knows what to advise on (credentials, region, network,
    time, access); None for any other."""
    where = f" {target}" if target else ""
    if kind == NO_CREDENTIALS:
        return (f"no AWS credentials to reach{where or ' AWS'}: configure them (aws configure, or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or start the local stack (facemood local up)")
    if kind == NO_REGION:
        return "no AWS region: set AWS_DEFAULT_REGION (or aws configure)"
    if kind == UNREACHABLE:
        return (f"cannot reach{where} at {endpoint_of(exc)}: is the local stack running (facemood local up), "
                "or AWS_ENDPOINT_URL or the region wrong?" if target else
                f"cannot reach {endpoint_of(exc)}: check the network, AWS_ENDPOINT_URL and the region")
    if kind == TIMED_OUT:
        return f"AWS did not answer in time{' for' + where if where else ''}; try again shortly"
    if kind in ("AccessDenied", "AccessDeniedException", "403"):
        return f"access denied{' to' + where if where else ''}"
    return None


def aws_reason(exc: Exception, target: str = "", message: bool = True) -> str:
    """A failed AWS call in plain words (no traceback, no response dump): the one wording every
    part of FaceMood gives. ``target`` names what was being reached (an ``s3://`` URI, a table);
    ``message=False`` leaves out the service's own message (where it might quote a key)."""
    known = _known_reason(error_kind(exc), exc, target)
    if known:
        return known
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    prefix = f"{target}: " if target else ""
    if error:
        said = f": {error.get('Message', '')}" if message else ""
        return f"{prefix}{error.get('Code', 'error')}{said}".rstrip(": ")
    return f"{prefix}{exc}" if message else f"{prefix}{type(exc).__name__}"
