"""Streaming S3 transfers: the read-ahead reader and the multipart writer whose parts travel in a
background thread (moto's server on loopback)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from facemood import storage
from facemood.errors import StorageError


class _Failing(io.RawIOBase):
    """A stream that gives ``good`` bytes, then fails as a dropped connection does."""

    def __init__(self, good: bytes) -> None:
        super().__init__()
        self._left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._left:
            raise ConnectionResetError("connection reset by peer")
        data, self._left = self._left[:size], self._left[size:]
        return data


def test_read_ahead_gives_the_same_bytes_whatever_the_read_sizes():
    data = np.random.default_rng(1).integers(0, 256, 1_000_003, dtype=np.uint8).tobytes()
    ahead = storage.ReadAhead(io.BytesIO(data), chunk_bytes=4096, depth=2)
    got = bytearray()
    for size in [1, 7, 4096, 5000, 65536] * 1000:
        part = ahead.read(size)
        if not part:
            break
        got += part
    assert bytes(got) == data
    assert ahead.read(10) == b""
    ahead.close()


def test_a_read_error_reaches_the_reader_after_the_bytes_before_it():
    ahead = io.BufferedReader(storage.ReadAhead(_Failing(b"x" * 10_000), chunk_bytes=1024))
    assert ahead.read(10_000) == b"x" * 10_000
    with pytest.raises(ConnectionResetError, match="reset by peer"):
        ahead.read(1)


def test_closing_early_stops_the_reader_thread():
    ahead = storage.ReadAhead(io.BytesIO(b"y" * 10_000_000), chunk_bytes=1024, depth=2)
    assert ahead.read(5) == b"yyyyy"
    ahead.close()  # the thread would otherwise block on the full queue for ever
    assert ahead.closed


def test_a_multipart_upload_of_many_parts_arrives_whole_and_in_order(s3):
    s3.create_bucket(Bucket="parts")
    data = np.random.default_rng(2).integers(0, 256, 17 * 1024 * 1024 + 5, dtype=np.uint8).tobytes()
    with storage.open_write("s3://parts/whole.bin", s3, part_size=5 * 1024 * 1024) as sink:
        for start in range(0, len(data), 1_000_000):
            sink.write(data[start:start + 1_000_000])
    assert s3.get_object(Bucket="parts", Key="whole.bin")["Body"].read() == data


def test_a_failed_block_leaves_no_object_and_no_upload_behind(s3):
    s3.create_bucket(Bucket="parts")
    with (pytest.raises(RuntimeError, match="the work failed"),
          storage.open_write("s3://parts/half.bin", s3, part_size=5 * 1024 * 1024) as sink):
        sink.write(b"z" * (11 * 1024 * 1024))  # two parts sent, one in flight
        raise RuntimeError("the work failed")
    assert "Contents" not in s3.list_objects_v2(Bucket="parts")
    assert not s3.list_multipart_uploads(Bucket="parts").get("Uploads")


def test_a_missing_bucket_is_named_when_the_upload_starts(s3):
    with (pytest.raises(StorageError, match="no-such-bucket"),
          storage.open_write("s3://no-such-bucket/x.bin", s3) as sink):
        sink.write(b"data")
