"""S3 through boto3: URIs, streaming reads, multipart uploads, error translation.

The endpoint comes from ``AWS_ENDPOINT_URL`` (boto3 reads it itself), so the same code
talks to AWS and to the local moto server. Core functions take the client as a
parameter; only :func:`s3_client` builds one.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from facemood import config as cfg
from facemood.config import ENV, aws_region
from facemood.errors import NotFound, StorageError

log = logging.getLogger(__name__)
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key (the key may be a prefix, or empty)."""

    bucket: str
    key: str = ""

    @property
    def uri(self) -> str:
        """The ``s3://bucket/key`` form."""
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def parse_s3_uri(uri: str) -> S3Location | None:
    """Return the S3Location of an ``s3://`` URI, or None for a local path."""
    if not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} names no bucket")
    return S3Location(bucket, key)


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


def aws_client(service: str, region: str | None = None, endpoint_url: str | None = None, **credentials: str) -> Any:
    """A boto3 client for ``service`` (``s3``, ``dynamodb``, ``secretsmanager``...); endpoint
    (AWS_ENDPOINT_URL: moto's server locally), region and credentials default to the environment.

    ``credentials`` are boto3's ``aws_access_key_id``/``aws_secret_access_key``/``aws_session_token``.
    """
    import boto3  # pylint: disable=import-outside-toplevel
    from botocore.config import Config  # pylint: disable=import-outside-toplevel

    limits = aws_client_settings()
    # A session of its own: boto3's default session caches the credentials it first found.
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url or os.environ.get(ENV.ENDPOINT) or None,
        region_name=region or aws_region(),
        config=Config(connect_timeout=limits.connect_timeout_s, read_timeout=limits.read_timeout_s,
                      retries={"total_max_attempts": limits.max_attempts, "mode": "standard"}),
        **credentials,
    )


def s3_client(endpoint_url: str | None = None, region: str | None = None, **credentials: str) -> Any:
    """A boto3 S3 client (see :func:`aws_client`)."""
    return aws_client("s3", region, endpoint_url, **credentials)


def _require_client(client: Any, location: S3Location) -> None:
    """An ``s3://`` URI needs a client; say so instead of failing on ``None``."""
    if client is None:
        raise StorageError(f"{location.uri}: no S3 client was given to reach an s3:// URI")


def aws_reason(exc: Exception) -> str:
    """Plain words for a botocore error from any AWS service (no traceback, no response dump)."""
    # pylint: disable-next=import-outside-toplevel
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: configure them (aws configure, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_DEFAULT_REGION (or aws configure)"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url')}: check the network, AWS_ENDPOINT_URL and the region"
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return "AWS did not answer in time; try again shortly"
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    if error:
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _translate(exc: Exception, location: S3Location) -> StorageError:
    """Turn a botocore error into a StorageError that names the object."""
    # pylint: disable-next=import-outside-toplevel
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    if isinstance(exc, NoCredentialsError):
        return StorageError(f"no AWS credentials to reach {location.uri}: configure them (aws configure, "
                            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or start the local stack")
    if isinstance(exc, EndpointConnectionError):
        return StorageError(f"cannot reach the storage endpoint for {location.uri} ({exc.kwargs.get('endpoint_url')}): "
                            "is the local stack running (facemood local up), or AWS_ENDPOINT_URL wrong?")
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return StorageError(f"the storage endpoint did not answer in time for {location.uri}; try again shortly")
    code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")
    if code in ("NoSuchBucket",):
        return NotFound(f"bucket {location.bucket!r} does not exist")
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFound(f"{location.uri} does not exist")
    if code in ("AccessDenied", "403"):
        return StorageError(f"access denied to {location.uri}")
    return StorageError(f"{location.uri}: {exc}")


@contextlib.contextmanager
def open_uri(uri: str, client: Any = None) -> Iterator[IO[bytes]]:
    """Open an ``s3://`` object or a local file for streaming binary reads."""
    location = parse_s3_uri(uri)
    if location is None:
        try:
            with open(uri, "rb") as handle:
                yield handle
        except FileNotFoundError as exc:
            raise NotFound(f"{uri} does not exist") from exc
        return
    body = get_object(client, location)["Body"]
    try:
        yield body
    finally:
        body.close()


def get_object(client: Any, location: S3Location, **kwargs: Any) -> dict[str, Any]:
    """``GetObject`` with errors translated; the Body streams."""
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

    _require_client(client, location)
    try:
        return client.get_object(Bucket=location.bucket, Key=location.key, **kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, location) from exc


def head_object(client: Any, location: S3Location) -> dict[str, Any] | None:
    """``HeadObject``; None when the object does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

    _require_client(client, location)
    try:
        return client.head_object(Bucket=location.bucket, Key=location.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise _translate(exc, location) from exc
    except BotoCoreError as exc:
        raise _translate(exc, location) from exc


def read_bytes(uri: str, client: Any = None) -> bytes:
    """Read a whole (small) object or file."""
    with open_uri(uri, client) as handle:
        return handle.read()


def upload_stream(client: Any, stream: IO[bytes], location: S3Location,
                  content_type: str = "application/octet-stream", **extra: Any) -> None:
    """Upload a binary stream; multipart above 16 MiB, so the object appears only when complete."""
    from boto3.s3.transfer import TransferConfig  # pylint: disable=import-outside-toplevel
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

    transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                              use_threads=False)
    _require_client(client, location)
    try:
        client.upload_fileobj(stream, location.bucket, location.key,
                              ExtraArgs={"ContentType": content_type, **extra}, Config=transfer)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, location) from exc


def write_bytes(uri: str, data: bytes, client: Any = None, content_type: str = "application/octet-stream") -> None:
    """Write ``data`` to an ``s3://`` URI or a local path (atomically, via a temporary file)."""
    location = parse_s3_uri(uri)
    if location is None:
        with open_write(uri) as sink:
            sink.write(data)
        return
    upload_stream(client, io.BytesIO(data), location, content_type)


def copy_file_to(uri: str, source: Path, client: Any = None, content_type: str = "application/octet-stream") -> None:
    """Copy the local file ``source`` to an ``s3://`` URI or a local path."""
    location = parse_s3_uri(uri)
    if location is None:
        with open(source, "rb") as handle, open_write(uri) as sink:
            shutil.copyfileobj(handle, sink, MULTIPART_CHUNK)
        return
    with open(source, "rb") as handle:
        upload_stream(client, handle, location, content_type)


def list_objects(client: Any, location: S3Location) -> list[dict[str, Any]]:
    """Every object under ``location.key`` (a prefix), following pagination."""
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

    _require_client(client, location)
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.key)
        return [obj for page in pages for obj in page.get("Contents", [])]
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, location) from exc


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists (the local stack and tests use this)."""
    from botocore.exceptions import ClientError  # pylint: disable=import-outside-toplevel

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


class _MultipartWriter(io.RawIOBase):
    """A writable stream that uploads S3 multipart parts as they fill.

    The object exists only after :meth:`commit` completes the upload; :meth:`abort`
    discards the parts, so a failed step never leaves a partial object behind.
    """

    def __init__(self, client: Any, location: S3Location, content_type: str, part_size: int) -> None:
        super().__init__()
        self._client, self._location, self._part_size = client, location, part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id = client.create_multipart_upload(
            Bucket=location.bucket, Key=location.key, ContentType=content_type)["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            self._upload(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(data)

    def _upload(self, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

        number = len(self._parts) + 1
        try:
            response = self._client.upload_part(Bucket=self._location.bucket, Key=self._location.key,
                                                UploadId=self._upload_id, PartNumber=number, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, self._location) from exc
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def commit(self) -> None:
        """Upload the last part and complete the upload: the object appears whole."""
        if self._buffer or not self._parts:
            self._upload(bytes(self._buffer))
            self._buffer.clear()
        self._client.complete_multipart_upload(Bucket=self._location.bucket, Key=self._location.key,
                                               UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})

    def abort(self) -> None:
        """Discard every uploaded part, as far as S3 can be reached: the object never appears
        either way, and parts left behind are removed by the bucket's lifecycle rule."""
        from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

        try:
            self._client.abort_multipart_upload(Bucket=self._location.bucket, Key=self._location.key,
                                                UploadId=self._upload_id)
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not abort an incomplete upload; its parts expire with the bucket's lifecycle rule",
                        extra={"uri": self._location.uri, "error": str(exc)})


class _LocalWriter(io.FileIO):
    """A local file written under a temporary name and renamed into place on commit."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.target = path
        self.partial = path.with_name(path.name + ".partial")
        super().__init__(self.partial, "wb")

    def commit(self) -> None:
        """Close and move the file into place."""
        self.close()
        self.partial.replace(self.target)

    def abort(self) -> None:
        """Close and delete the partial file."""
        self.close()
        self.partial.unlink(missing_ok=True)


def _local_reason(path: Path, exc: OSError) -> str:
    """Plain words for a local file that cannot be created."""
    blocking = next((p for p in path.parents if p.is_file()), None)
    if blocking is not None:
        return f"{blocking} is a file, not a folder"
    if path.is_dir():
        return "it is a folder"
    return (exc.strerror or str(exc)).lower()


@contextlib.contextmanager
def open_write(uri: str, client: Any = None, content_type: str = "application/octet-stream",
               part_size: int = MULTIPART_CHUNK) -> Iterator[Any]:
    """A binary writer for an ``s3://`` URI or a local path that appears only when complete.

    On S3 it is a streaming multipart upload (memory bounded by ``part_size``); locally a
    temporary file renamed into place. If the block raises, nothing is left behind.
    """
    from botocore.exceptions import BotoCoreError, ClientError  # pylint: disable=import-outside-toplevel

    location = parse_s3_uri(uri)
    if location is not None:
        _require_client(client, location)
    try:
        writer = _LocalWriter(Path(uri)) if location is None else _MultipartWriter(
            client, location, content_type, part_size)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, location) from exc  # type: ignore[arg-type]
    except OSError as exc:
        raise StorageError(f"cannot write {uri}: {_local_reason(Path(uri), exc)}") from exc
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    try:
        writer.commit()
    except (ClientError, BotoCoreError) as exc:
        writer.abort()
        raise _translate(exc, location) from exc  # type: ignore[arg-type]
    except StorageError:
        writer.abort()
        raise
