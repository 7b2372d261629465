"""S3 through boto3: URIs, streaming reads, multipart uploads, error translation.

The endpoint comes from ``AWS_ENDPOINT_URL`` (boto3 reads it itself), so the same code
talks to AWS and to the local moto server. Core functions take the client as a
parameter; only :func:`s3_client` builds one (through :mod:`facemood.aws`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from facemood import aws
from facemood.aws import aws_client, aws_errors, aws_reason, error_code, error_kind
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


def s3_client(endpoint_url: str | None = None, region: str | None = None, **credentials: str) -> Any:
    """A boto3 S3 client (see :func:`facemood.aws.aws_client`)."""
    return aws_client("s3", region, endpoint_url, **credentials)


def client_for(*uris: str) -> Any | None:
    """An S3 client when any of ``uris`` is an ``s3://`` URI, else None: a command on local files
    needs no AWS settings (a broken one does not stop it) and skips boto3's start-up."""
    return s3_client() if any(parse_s3_uri(uri) for uri in uris) else None


def _require_client(client: Any, location: S3Location) -> None:
    """An ``s3://`` URI needs a client; say so instead of failing on ``None``."""
    if client is None:
        raise StorageError(f"{location.uri}: no S3 client was given to reach an s3:// URI")


def _translate(exc: Exception, location: S3Location) -> StorageError:
    """Turn a botocore error into a StorageError that names the object (in :func:`aws.aws_reason`'s words)."""
    code = error_kind(exc)
    if code in ("NoSuchBucket",):
        return NotFound(f"bucket {location.bucket!r} does not exist")
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFound(f"{location.uri} does not exist")
    return StorageError(aws_reason(exc, location.uri))


@contextlib.contextmanager
def open_uri(uri: str, client: Any = None) -> Iterator[IO[bytes]]:
    """Open an ``s3://`` object or a local file for streaming binary reads."""
    location = parse_s3_uri(uri)
    if location is None:
        try:
            handle = open(uri, "rb")  # noqa: SIM115  # closed below
        except FileNotFoundError as exc:
            raise NotFound(f"{uri} does not exist") from exc
        except IsADirectoryError as exc:
            raise StorageError(f"{uri} is a folder, not a file") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {(exc.strerror or str(exc)).lower()}") from exc
        with handle:
            yield handle
        return
    body = get_object(client, location)["Body"]
    try:
        yield body
    finally:
        body.close()


def get_object(client: Any, location: S3Location, **kwargs: Any) -> dict[str, Any]:
    """``GetObject`` with errors translated; the Body streams."""
    _require_client(client, location)
    try:
        return client.get_object(Bucket=location.bucket, Key=location.key, **kwargs)
    except aws_errors() as exc:
        raise _translate(exc, location) from exc


def head_object(client: Any, location: S3Location) -> dict[str, Any] | None:
    """``HeadObject``; None when the object does not exist."""
    _require_client(client, location)
    try:
        return client.head_object(Bucket=location.bucket, Key=location.key)
    except aws_errors() as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise _translate(exc, location) from exc


def read_bytes(uri: str, client: Any = None) -> bytes:
    """Read a whole (small) object or file."""
    with open_uri(uri, client) as handle:
        return handle.read()


def upload_stream(client: Any, stream: IO[bytes], location: S3Location,
                  content_type: str = "application/octet-stream", **extra: Any) -> None:
    """Upload a binary stream; multipart above 16 MiB, so the object appears only when complete."""
    transfer = aws.s3_transfer_config(MULTIPART_THRESHOLD, MULTIPART_CHUNK)
    _require_client(client, location)
    try:
        client.upload_fileobj(stream, location.bucket, location.key,
                              ExtraArgs={"ContentType": content_type, **extra}, Config=transfer)
    except aws_errors() as exc:
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
    _require_client(client, location)
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.key)
        return [obj for page in pages for obj in page.get("Contents", [])]
    except aws_errors() as exc:
        raise _translate(exc, location) from exc


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists (the local stack and tests use this)."""
    try:
        client.head_bucket(Bucket=bucket)
    except aws_errors():
        client.create_bucket(Bucket=bucket)


class _MultipartWriter(io.RawIOBase):
    """A writable stream that uploads S3 multipart parts as they fill.

    Each full part travels in a background thread while the next one fills (one part in flight:
    memory stays bounded by two parts), so the upload overlaps the work that produces it. The
    object exists only after :meth:`commit` completes the upload; :meth:`abort` discards the
    parts, so a failed step never leaves a partial object behind.
    """

    def __init__(self, client: Any, location: S3Location, content_type: str, part_size: int) -> None:
        super().__init__()
        self._client, self._location, self._part_size = client, location, part_size
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._sent = 0  # parts handed to the uploader
        self._in_flight: Future[dict[str, Any]] | None = None
        self._uploader = ThreadPoolExecutor(1, thread_name_prefix="s3-part")
        self._upload_id = client.create_multipart_upload(
            Bucket=location.bucket, Key=location.key, ContentType=content_type)["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            self._send(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(data)

    def _send(self, data: bytes) -> None:
        """Hand a part to the uploader once the one before it has arrived (raising its error)."""
        self._arrived()
        self._sent += 1
        self._in_flight = self._uploader.submit(self._upload, self._sent, data)

    def _arrived(self) -> None:
        """Wait for the part in flight, if any, and record it; its failure is raised here."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            self._parts.append(in_flight.result())

    def _upload(self, number: int, data: bytes) -> dict[str, Any]:
        try:
            response = self._client.upload_part(Bucket=self._location.bucket, Key=self._location.key,
                                                UploadId=self._upload_id, PartNumber=number, Body=data)
        except aws_errors() as exc:
            raise _translate(exc, self._location) from exc
        return {"PartNumber": number, "ETag": response["ETag"]}

    def commit(self) -> None:
        """Upload the last part and complete the upload: the object appears whole."""
        if self._buffer or not self._sent:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._arrived()
        self._uploader.shutdown()
        self._client.complete_multipart_upload(Bucket=self._location.bucket, Key=self._location.key,
                                               UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})

    def abort(self) -> None:
        """Discard every uploaded part, as far as S3 can be reached: the object never appears
        either way, and parts left behind are removed by the bucket's lifecycle rule."""
        self._uploader.shutdown(wait=True)  # a part still in flight lands first, then goes with the rest
        try:
            self._client.abort_multipart_upload(Bucket=self._location.bucket, Key=self._location.key,
                                                UploadId=self._upload_id)
        except aws_errors() as exc:
            log.warning("could not abort an incomplete upload; its parts expire with the bucket's lifecycle rule",
                        extra={"uri": self._location.uri, "error": str(exc)})


class ReadAhead(io.RawIOBase):
    """A stream read ``depth`` chunks ahead in a background thread, so that the transfer of an S3
    object overlaps the work on what came before. A read error is raised to the reader, where
    it would have been raised without the thread. Close it to stop the thread."""

    def __init__(self, stream: IO[bytes], chunk_bytes: int = 1 << 20, depth: int = 4) -> None:
        super().__init__()
        self._stream, self._chunk_bytes = stream, chunk_bytes
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stopped = threading.Event()
        self._current = memoryview(b"")
        self._ended = False
        threading.Thread(target=self._fill, name="read-ahead", daemon=True).start()

    def _fill(self) -> None:
        try:
            while not self._stopped.is_set():
                data = self._stream.read(self._chunk_bytes)
                self._hand_over(data)
                if not data:
                    return
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # raised in the reader
            self._hand_over(exc)

    def _hand_over(self, item: bytes | BaseException) -> None:
        while not self._stopped.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._current:
            if self._ended:
                return 0
            item = self._chunks.get()
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            if not item:
                self._ended = True
                return 0
            self._current = memoryview(item)
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        return n

    def close(self) -> None:
        self._stopped.set()
        super().close()


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
    location = parse_s3_uri(uri)
    if location is not None:
        _require_client(client, location)
    try:
        writer = _LocalWriter(Path(uri)) if location is None else _MultipartWriter(
            client, location, content_type, part_size)
    except aws_errors() as exc:
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
    except aws_errors() as exc:
        writer.abort()
        raise _translate(exc, location) from exc  # type: ignore[arg-type]
    except StorageError:
        writer.abort()
        raise
