"""FER2013 CSV: streaming read with validation, fast writing, and loading into memory.

The reader streams a CSV (or gzip-compressed CSV) in batches, so memory is bounded by
the batch size and not by the file size. Each rejected row is reported with its line
number and one reason; a file that cannot be FER2013 at all raises InvalidDataset.
Pixels are parsed and formatted with whole-batch numpy operations, never per pixel.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from facemood import config as cfg
from facemood import storage
from facemood.emotions import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, USAGES
from facemood.errors import InvalidDataset, NoValidRows
from facemood.faceset import FaceSet, load_npz

REQUIRED_COLUMNS = ("emotion", "pixels")
DEFAULT_BATCH_ROWS = 1024
MAX_FIELD_BYTES = 64 * 1024  # a FER2013 pixels field is at most 2304 * 4 bytes
ORIGINAL = "original"  # the augmentation column's value for an unaugmented face
_SNIFF_BYTES = 8
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"RIFF": "a RIFF (WebP/WAV) file",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ": "an xz archive",
    b"\x93NUMPY": "a numpy array file",
}
_GZIP_MAGIC = b"\x1f\x8b"
TEXT_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Rejection:
    """A rejected row: its physical line number (1 = header) and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Batch:
    """Valid rows from one slice of the file."""

    pixels: np.ndarray  # (b,48,48) uint8
    labels: np.ndarray  # (b,) int64
    usage: np.ndarray | None  # (b,) str, None when the file has no Usage column
    lines: np.ndarray  # (b,) int64 physical line numbers
    source: np.ndarray  # (b,) int64: the source row (the line, or the refined file's column)
    augmentation: np.ndarray | None = None  # (b,) str, refined files only
    rejections: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


class _Prefixed(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class TextLimits:
    """Bounds on an uploaded file while it streams (``limits`` in ``config/augment.yaml``): a small
    gzip can inflate to gigabytes of NULs or blank lines, and none of it may be held or looped over."""

    max_text_mib: float  # decompressed bytes
    max_line_kib: float  # bytes between two line breaks
    max_seconds: float  # reading and processing one file
    non_utf8: str  # "reject_row": such a row is a rejected row; "refuse_file": the file is refused

    def __post_init__(self) -> None:
        cfg.check_range("max_text_mib", self.max_text_mib, 0.0, 1e6, open_low=True)
        cfg.check_range("max_line_kib", self.max_line_kib, 10.0, 1024.0)
        cfg.check_range("max_seconds", self.max_seconds, 0.0, 1e5, open_low=True)
        if self.non_utf8 not in ("reject_row", "refuse_file"):
            raise ValueError(f"non_utf8 must be reject_row or refuse_file, got {self.non_utf8!r}")


class _Bounded(io.RawIOBase):
    """Counts the decompressed bytes and the longest line while they stream; raises
    InvalidDataset, naming the limit, as soon as one is passed (before anything is held)."""

    def __init__(self, stream: IO[bytes], limits: TextLimits) -> None:
        super().__init__()
        self._stream, self._limits = stream, limits
        self._max_bytes = int(limits.max_text_mib * 1024 * 1024)
        self._max_line = int(limits.max_line_kib * 1024)
        self.total, self.lines, self._open_line = 0, 0, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._stream.readinto(buffer)
        if not n:
            return 0
        breaks = np.flatnonzero(np.frombuffer(memoryview(buffer)[:n], dtype=np.uint8) == 10)
        gaps = np.diff(np.concatenate([[-1 - self._open_line], breaks, [n]])) - 1
        if gaps.max() > self._max_line:
            where = int(np.argmax(gaps > self._max_line))
            raise InvalidDataset(f"line {self.lines + where + 1} is longer than {self._limits.max_line_kib:g} KiB "
                                 "(a FER2013 row is under 10 KiB): not a FER2013 CSV")
        if self.total + n > self._max_bytes:
            passed_at = self._max_bytes - self.total  # the byte of this read where the limit is passed
            line = self.lines + int(np.searchsorted(breaks, passed_at)) + 1
            raise InvalidDataset(f"the file holds more than {self._limits.max_text_mib:g} MiB of text once "
                                 f"decompressed (the limit); stopped at line {line}")
        self.total += n
        self.lines += len(breaks)
        self._open_line = int(gaps[-1])
        return n


def _sniff(stream: IO[bytes]) -> tuple[bytes, IO[bytes]]:
    """Peek at the first bytes of ``stream``; return them and a stream that still has them."""
    head = b""
    while len(head) < _SNIFF_BYTES:
        chunk = stream.read(_SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head, io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 20)


def open_text(stream: IO[bytes], limits: TextLimits | None = None) -> io.TextIOWrapper:
    """Decode a binary CSV stream (gzip detected by its magic bytes; BOM and CRLF accepted).

    Bytes that are not UTF-8 are kept as escapes for the row to be rejected (with ``limits``
    allowing it) or the file refused, by line. With ``limits``, the decompressed text is also
    bounded while it streams.
    Raises InvalidDataset for an empty file or one that is plainly not text.
    """
    head, stream = _sniff(stream)
    if head.startswith(_GZIP_MAGIC):
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
        head, stream = _sniff(stream)
    if limits is not None:
        stream = io.BufferedReader(_Bounded(stream, limits), buffer_size=1 << 20)
    if not head:
        raise InvalidDataset("the file is empty: expected a FER2013 CSV with a header row")
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise InvalidDataset(f"the file is {what}, not a FER2013 CSV")
    # undecodable bytes are kept as escapes, so the row that holds one is named (non_utf8_reason)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="surrogateescape")
    # It reads 8 KiB at a time by default: each read passes the limits' checks, and at 1 MiB those cost
    # a hundredth as much. (A settable attribute of io.TextIOWrapper, not documented outside its source.)
    text._CHUNK_SIZE = TEXT_CHUNK_BYTES  # pylint: disable=protected-access
    return text


def non_utf8_reason(row: list[str]) -> str | None:
    """Why a row read with escapes is not UTF-8 (naming the first such byte), or None."""
    for column, cell in enumerate(row, start=1):
        if cell.isascii():  # nearly every cell: checked in C, where a loop over its characters took most of a read
            continue
        escape = _ESCAPED_BYTE.search(cell)
        if escape:
            return (f"byte 0x{ord(escape.group()) - 0xDC00:02X} in field {column} is not UTF-8 "
                    "(the file must be UTF-8 text; was it saved as Latin-1 or Windows-1252?)")
    return None


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # how surrogateescape keeps a byte that is not UTF-8


@dataclass(frozen=True)
class Header:
    """Column positions found in the header row."""

    names: tuple[str, ...]
    emotion: int
    pixels: int
    usage: int | None
    augmentation: int | None
    source: int | None

    @classmethod
    def parse(cls, row: list[str]) -> Header:
        """Match column names case- and space-insensitively; raise InvalidDataset if unusable."""
        if non_utf8_reason(row):
            raise InvalidDataset("the file is not UTF-8 text (it looks binary: its first line holds bytes that are "
                                 "not UTF-8), not a FER2013 CSV")
        names = tuple(name.strip().lower() for name in row)
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            shown = ",".join(row)[:80]
            raise InvalidDataset(
                f"no FER2013 header: line 1 must name the columns emotion,pixels[,Usage]; "
                f"missing {', '.join(missing)} in {shown!r}")
        duplicated = sorted({n for n in names if n and names.count(n) > 1})
        if duplicated:
            raise InvalidDataset(f"the header names column {duplicated[0]!r} more than once")

        def find(name: str) -> int | None:
            return names.index(name) if name in names else None

        return cls(names, names.index("emotion"), names.index("pixels"), find("usage"), find("augmentation"),
                   find("source"))


def parse_pixel_fields(fields: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse pixel strings with whole-batch numpy operations.

    Returns ``(pixels (b,2304) uint8, ok (b,) bool)``; rows with a wrong count, a
    non-digit character or a value above 255 are not ok (explain them with
    :func:`explain_pixels`).
    """
    b = len(fields)
    if b == 0:
        return np.zeros((0, IMAGE_PIXELS), np.uint8), np.zeros(0, bool)
    fields = [f.replace("\n", "?").replace("\r", "?") if "\n" in f or "\r" in f else f for f in fields]
    buf = np.frombuffer(("\n".join(fields) + "\n").encode("ascii", errors="replace"), dtype=np.uint8)
    digits = buf - np.uint8(48)  # a digit's value; any other byte wraps to 10 or more
    digit = digits < 10
    newline = buf == 10
    line_ends = np.flatnonzero(newline)  # b entries: where each row's text ends
    bad_bytes = np.flatnonzero(~(digit | newline | (buf == 32)))
    ok = np.ones(b, bool)
    if bad_bytes.size:
        ok[np.searchsorted(line_ends, bad_bytes)] = False
    # A token's edges alternate: +1 at its first digit, -1 just after its last.
    edges = np.flatnonzero(np.diff(digit.view(np.int8), prepend=np.int8(0), append=np.int8(0)))
    starts, ends = edges[0::2], edges[1::2] - 1
    lengths = ends - starts + 1
    # tokens per row from where each row ends among the token starts (b lookups, not one per token)
    counts = np.diff(np.searchsorted(starts, line_ends), prepend=0)
    ok &= counts == IMAGE_PIXELS
    # Token value from up to its last 3 digits (uint16: at most 999); longer tokens are out of range
    # unless zero-padded. A shorter token's missing digits read as 0 (index -1 wraps harmlessly).
    value = digits[ends].astype(np.uint16)
    value += (lengths > 1) * digits[ends - 1].astype(np.uint16) * np.uint16(10)
    value += (lengths > 2) * digits[ends - 2].astype(np.uint16) * np.uint16(100)
    too_long = np.flatnonzero(lengths > 3)
    for t in too_long:  # zero-padded values such as 0012 are fine; anything else is too big
        text = buf[starts[t]:ends[t] + 1].tobytes().lstrip(b"0")
        value[t] = int(text) if len(text) <= 3 else 1000  # never int() of thousands of digits
    over = np.flatnonzero(value > 255)
    if over.size:
        ok[np.searchsorted(np.cumsum(counts), over, side="right")] = False
    if ok.all():  # the usual batch: every row's 2,304 values in order
        return value.astype(np.uint8).reshape(b, IMAGE_PIXELS), ok
    pixels = np.zeros((b, IMAGE_PIXELS), np.uint8)
    token_row = np.repeat(np.arange(b), counts)
    pixels[ok] = value[ok[token_row]].reshape(-1, IMAGE_PIXELS).astype(np.uint8)
    return pixels, ok


def explain_pixels(text: str) -> str:
    """The reason a pixels field is invalid (slow path, used only for rejected rows)."""
    tokens = text.split()
    for i, token in enumerate(tokens, start=1):
        if not token.isdigit() or not token.isascii():
            return f"pixel {i} is {token[:20]!r}, not an integer"
        digits = token.lstrip("0")
        if len(digits) > 9:  # never int() of thousands of digits
            return f"pixel {i} has {len(digits)} digits, outside 0..255"
        if int(token) > 255:
            return f"pixel {i} is {int(token)}, outside 0..255"
    if len(tokens) != IMAGE_PIXELS:
        return f"pixels has {len(tokens)} values, expected {IMAGE_PIXELS} (48x48)"
    return "pixels is malformed"


def _parse_label(text: str) -> int | str:
    """The label id, or the reason it is invalid."""
    value = text.strip()
    try:
        label = int(value)
    except ValueError:
        return f"emotion {value[:20]!r} is not an integer"
    if not 0 <= label < NUM_CLASSES:
        return f"emotion {label} is outside 0..{NUM_CLASSES - 1}"
    return label


_USAGE_BY_KEY = {u.lower(): u for u in USAGES}


def _parse_usage(text: str) -> str | None:
    return _USAGE_BY_KEY.get(text.strip().lower())


class _BatchBuilder:
    """Collects the rows of one batch before the vectorised pixel parse."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.labels: list[int] = []
        self.usage: list[str] = []
        self.lines: list[int] = []
        self.source: list[int] = []
        self.augmentation: list[str] = []
        self.pixel_text: list[str] = []
        self.rejections: list[Rejection] = []

    def add(self, line: int, row: list[str], lines: int = 1) -> None:
        """Check the row's non-pixel fields and keep it for the batch parse.

        ``line`` is where the record starts; ``lines`` how many physical lines it spans.
        """
        header = self.header
        if lines > 1:
            self.rejections.append(Rejection(line, f"the row spans lines {line}-{line + lines - 1}: a quoted field "
                                                   "holds a line break"))
            return
        if len(row) != len(header.names):
            if not any(cell.strip() for cell in row):
                self.rejections.append(Rejection(line, "empty row"))
                return
            self.rejections.append(Rejection(
                line, f"ragged row: {len(row)} fields where the header has {len(header.names)}"))
            return
        label = _parse_label(row[header.emotion])
        if isinstance(label, str):
            self.rejections.append(Rejection(line, label))
            return
        if header.usage is not None:
            usage = _parse_usage(row[header.usage])
            if usage is None:
                self.rejections.append(Rejection(
                    line, f"unknown Usage {row[header.usage].strip()[:30]!r}; expected {', '.join(USAGES)}"))
                return
            self.usage.append(usage)
        source = line
        if header.source is not None:
            try:
                source = int(row[header.source])
            except ValueError:
                self.rejections.append(Rejection(line, f"source {row[header.source][:20]!r} is not an integer"))
                if header.usage is not None:
                    self.usage.pop()
                return
        if header.augmentation is not None:
            self.augmentation.append(row[header.augmentation].strip())
        self.labels.append(label)
        self.lines.append(line)
        self.source.append(source)
        self.pixel_text.append(row[header.pixels])

    def build(self) -> Batch:
        """Parse the pixels of every kept row and return the batch of valid ones."""
        pixels, ok = parse_pixel_fields(self.pixel_text)
        rejections = list(self.rejections)
        for i in np.flatnonzero(~ok):
            rejections.append(Rejection(self.lines[i], explain_pixels(self.pixel_text[i])))
        rejections.sort(key=lambda r: r.line)

        def pick(values: list, dtype: Any) -> np.ndarray:
            return np.asarray(values, dtype=dtype)[ok] if values else np.zeros(0, dtype)

        return Batch(
            pixels=pixels[ok].reshape(-1, IMAGE_SIDE, IMAGE_SIDE),
            labels=pick(self.labels, np.int64),
            usage=pick(self.usage, object).astype(str) if self.header.usage is not None else None,
            lines=pick(self.lines, np.int64),
            source=pick(self.source, np.int64),
            augmentation=pick(self.augmentation, object).astype(str) if self.header.augmentation is not None else None,
            rejections=rejections,
        )


def read_batches(stream: IO[bytes], batch_rows: int = DEFAULT_BATCH_ROWS,
                 limits: TextLimits | None = None) -> Iterator[Batch]:
    """Stream a FER2013 CSV(.gz) as validated batches of at most ``batch_rows`` rows.

    Raises InvalidDataset when the file as a whole is not FER2013 data, or passes ``limits``.
    """
    text = open_text(stream, limits)
    deadline = None if limits is None else time.monotonic() + limits.max_seconds
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(text)
    done = 0  # physical lines read by the records before the current one
    try:
        first = next(reader, None)
        if first is None:
            raise InvalidDataset("the file is empty: expected a FER2013 CSV with a header row")
        header = Header.parse(first)
        done = reader.line_num
        builder = _BatchBuilder(header)
        pending = 0
        for row in reader:
            undecodable = non_utf8_reason(row)
            if undecodable and (limits is None or limits.non_utf8 == "refuse_file"):
                raise InvalidDataset(f"line {done + 1}: {undecodable}")
            if undecodable:
                builder.rejections.append(Rejection(done + 1, undecodable))
            else:
                # a quoted field may span lines: a record is named by the line it starts on
                builder.add(done + 1, row, reader.line_num - done)
            done = reader.line_num
            pending += 1
            if pending >= batch_rows:
                if deadline is not None and time.monotonic() > deadline:
                    raise InvalidDataset(f"stopped at line {done}: the file took longer than {limits.max_seconds:g} s "
                                         "to read (the limit per file)")
                yield builder.build()
                builder, pending = _BatchBuilder(header), 0
        if pending or builder.rejections:
            yield builder.build()
    except UnicodeDecodeError as exc:
        raise InvalidDataset(f"the file is not UTF-8 text (it looks binary; read {reader.line_num} "
                             "lines before the undecodable bytes)") from exc
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise InvalidDataset(f"line {done + 1}: a field is longer than {MAX_FIELD_BYTES // 1024} KiB (a FER2013 "
                                 "pixels field is at most 9 KiB): not a FER2013 CSV") from exc
        raise InvalidDataset(f"line {done + 1}: not a CSV file ({exc})") from exc
    except EOFError as exc:
        raise InvalidDataset(f"the gzip stream is truncated: {exc}") from exc
    except gzip.BadGzipFile as exc:
        raise InvalidDataset(f"not a valid gzip file: {exc}") from exc


# --- writing ------------------------------------------------------------------------

def _digit_table() -> tuple[np.ndarray, np.ndarray]:
    """For each byte value: its decimal text plus a space, padded with NULs to 4 bytes and read
    as one little-endian uint32 (a gather of one word per pixel is 8x faster than of 4 bytes);
    and the length of its digits."""
    table = np.zeros((256, 4), np.uint8)
    lengths = np.zeros(256, np.int64)
    for value in range(256):
        text = f"{value} ".encode()
        table[value, : len(text)] = np.frombuffer(text, np.uint8)
        lengths[value] = len(text) - 1
    return table.view("<u4").ravel(), lengths


_DIGITS, _DIGIT_LENGTHS = _digit_table()


def _fixed_width(strings: list[str]) -> np.ndarray:
    """Encode strings into a (n,width) uint8 array padded with NULs."""
    encoded = np.asarray([s.encode() for s in strings], dtype=bytes)
    width = encoded.dtype.itemsize
    return np.frombuffer(encoded.tobytes(), np.uint8).reshape(len(strings), width)


def format_rows(labels: np.ndarray, pixels: np.ndarray, tail: list[str]) -> bytes:
    """CSV text of rows ``label,<pixels>,<tail[i]>`` with whole-batch numpy operations.

    ``tail[i]`` holds the remaining fields of row i already joined (e.g. ``Training,flip,7``);
    an empty tail ends the row after the pixels.
    """
    n = len(labels)
    if n == 0:
        return b""
    flat = pixels.reshape(n, IMAGE_PIXELS)
    cells = _DIGITS[flat].view(np.uint8).reshape(n, IMAGE_PIXELS, 4)
    cells[np.arange(n), -1, _DIGIT_LENGTHS[flat[:, -1]]] = 0  # no space after the last pixel
    head = _fixed_width([f"{int(label)}," for label in labels])
    end = _fixed_width([f",{t}\n" if t else "\n" for t in tail])
    rows = np.concatenate([head, cells.reshape(n, -1), end], axis=1)
    return rows.tobytes().translate(None, b"\0")  # the padding out: faster than a boolean mask


def csv_header(has_usage: bool, refined: bool) -> bytes:
    """The header row of a FER2013 CSV, or of the refined format."""
    names = ["emotion", "pixels"] + (["Usage"] if has_usage else []) + (["augmentation", "source"] if refined else [])
    return (",".join(names) + "\n").encode()


# --- loading into memory ------------------------------------------------------------

def read_faceset(stream: IO[bytes], batch_rows: int = DEFAULT_BATCH_ROWS,
                 max_rows: int | None = None) -> tuple[FaceSet, list[Rejection]]:
    """Read a whole CSV into a FaceSet (uint8 arrays, never a 2,304-column DataFrame)."""
    parts: list[Batch] = []
    rejections: list[Rejection] = []
    total = 0
    for batch in read_batches(stream, batch_rows):
        parts.append(batch)
        rejections.extend(batch.rejections)
        total += len(batch)
        if max_rows is not None and total >= max_rows:
            break
    if total == 0:
        if not rejections:
            raise NoValidRows("no valid rows: the file has no data rows after the header")
        shown = "; ".join(str(r) for r in rejections[:3])
        raise NoValidRows(f"no valid rows: all {len(rejections)} data rows were rejected ({shown})")
    has_usage = parts[0].usage is not None
    faces = FaceSet(
        pixels=np.concatenate([p.pixels for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        usage=np.concatenate([p.usage for p in parts]) if has_usage else None,
        source=np.concatenate([p.source for p in parts]),
        augmented=(np.concatenate([p.augmentation != ORIGINAL for p in parts])
                   if parts[0].augmentation is not None else None),
    )
    if max_rows is not None and len(faces) > max_rows:
        faces = faces.subset(np.arange(max_rows))
    return faces, rejections


def load_faces(uri: str, client: Any = None, max_rows: int | None = None) -> FaceSet:
    """Load labelled faces from a FER2013 CSV(.gz) or an ``.npz``, local or ``s3://``."""
    with storage.open_uri(uri, client) as stream:
        if uri.endswith(".npz"):
            faces = load_npz(io.BytesIO(stream.read()) if storage.parse_s3_uri(uri) else stream)
            if max_rows is not None and len(faces) > max_rows:
                faces = faces.subset(np.arange(max_rows))
            return faces
        faces, rejections = read_faceset(stream, max_rows=max_rows)
    if rejections:
        import logging

        logging.getLogger(__name__).warning("%s: %d rows rejected, e.g. %s", uri, len(rejections), rejections[0])
    return faces
