"""The model bundle: write, verify, load and predict with onnxruntime.

A bundle is a folder ``models/<run_id>/`` (in the model bucket or on disk) holding
``model.onnx`` and its artifacts, with ``manifest.json`` written last: it records the
sha256 of every other file, so a bundle whose manifest is missing is incomplete and a
file whose hash differs has been tampered with. ``models/latest.json`` names the bundle
the app serves and the sha256 of its manifest. Nothing here unpickles or executes code
from the bundle.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facemood import storage
from facemood.clock import utc_timestamp
from facemood.distress import DistressRule
from facemood.emotions import EMOTIONS, IMAGE_SIDE
from facemood.errors import BundleIntegrityError, ModelInputError, NotFound, StorageError
from facemood.first_pass import FILE_NAME as FIRST_PASS_NAME
from facemood.first_pass import MANIFEST_KEY as FIRST_PASS_KEY
from facemood.first_pass import REST_FILE_NAME as REST_NAME
from facemood.first_pass import FirstPass, FirstPassEntry, GraphRest, cascade_probabilities, run_graph
from facemood.manifest import MANIFEST_NAME, FileRecord, Manifest
from facemood.photo_calibration import PhotoCalibration

MODELS_PREFIX = "models"
LATEST_NAME = "latest.json"
MODEL_NAME = "model.onnx"
MODEL_CARD_NAME = "model_card.md"
POINTER_KEYS = ("run_id", "bundle", "manifest_sha256")  # what latest.json must hold


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def join(root: str, *parts: str) -> str:
    """Join URI parts with '/' (S3) or the OS separator (local)."""
    if root.startswith("s3://"):
        return "/".join([root.rstrip("/"), *[p.strip("/") for p in parts]])
    return str(Path(root, *parts))


RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: str) -> None:
    """Raise NotFound unless ``run_id`` is a plain name (``20261128-133440-4b9694``): never a path."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise NotFound(f"{run_id!r} is not a model's run id: a run id is a name such as 20261128-133440-4b9694, "
                       "never a path (`facemood models list` shows them)")


def bundle_uri(root: str, run_id: str) -> str:
    """URI of the bundle folder ``models/<run_id>`` under a store root."""
    return join(root, MODELS_PREFIX, run_id)


def latest_uri(root: str) -> str:
    """URI of ``models/latest.json`` under a store root."""
    return join(root, MODELS_PREFIX, LATEST_NAME)


def write_bundle(folder: Path, root: str, run_id: str, entries: dict[str, Any], client: Any = None) -> Manifest:
    """Publish every file of the local ``folder`` to ``root/models/<run_id>/``, manifest last.

    The manifest is the run's ``entries`` completed with the format version, labels, I/O spec
    and file hashes (:meth:`Manifest.for_run`, which checks it as any reader would); returned as written.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_NAME)
    if not any(p.name == MODEL_NAME for p in files):
        raise BundleIntegrityError(f"{folder} holds no {MODEL_NAME}")
    manifest = Manifest.for_run(run_id, entries, {p.name: FileRecord(sha256_file(p), p.stat().st_size) for p in files})
    target = bundle_uri(root, run_id)
    for path in files:
        storage.copy_file_to(join(target, path.name), path, client, _content_type(path.name))
    payload = manifest.to_bytes()
    (folder / MANIFEST_NAME).write_bytes(payload)
    storage.write_bytes(join(target, MANIFEST_NAME), payload, client, "application/json")
    return manifest


def point_latest(root: str, run_id: str, client: Any = None) -> dict[str, Any]:
    """Make ``models/latest.json`` name the (complete, verified) bundle ``run_id``."""
    manifest_bytes = storage.read_bytes(join(bundle_uri(root, run_id), MANIFEST_NAME), client)
    pointer = {
        "run_id": run_id,
        "bundle": f"{MODELS_PREFIX}/{run_id}/",
        "manifest_sha256": sha256_bytes(manifest_bytes),
        "published": utc_timestamp(),
    }
    storage.write_bytes(latest_uri(root), json.dumps(pointer, indent=2).encode(), client, "application/json")
    return pointer


def _content_type(name: str) -> str:
    return {".json": "application/json", ".png": "image/png", ".md": "text/markdown"}.get(
        Path(name).suffix, "application/octet-stream")


def read_latest(root: str, client: Any = None) -> dict[str, Any] | None:
    """The ``models/latest.json`` pointer under ``root``, or None when nothing is published."""
    uri = latest_uri(root)
    try:
        pointer = json.loads(storage.read_bytes(uri, client))
    except NotFound:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleIntegrityError(f"{uri} is not valid JSON") from exc
    if not isinstance(pointer, dict):
        raise BundleIntegrityError(f"{uri} is not a model pointer: expected a JSON object")
    for key in POINTER_KEYS:
        if not isinstance(pointer.get(key), str) or not pointer[key]:
            raise BundleIntegrityError(f"{uri} is not a model pointer: {key!r} is missing or not a string")
    return pointer


def graph_input(faces: np.ndarray) -> np.ndarray:
    """The graphs' input (n,1,48,48) float32 in [0, 1] for (n,48,48) uint8 faces (or one (48,48) face)."""
    faces = np.asarray(faces)
    if faces.ndim == 2:
        faces = faces[None]
    if faces.dtype != np.uint8 or faces.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ModelInputError(f"faces must be uint8 of shape (n,{IMAGE_SIDE},{IMAGE_SIDE}); "
                              f"got {faces.dtype} {faces.shape}")
    return faces[:, None].astype(np.float32) / np.float32(255.0)


@dataclass
class Bundle:
    """A verified bundle, ready to predict."""

    uri: str
    manifest: Manifest | None  # None: a bare model.onnx
    session: Any  # onnxruntime.InferenceSession
    photo_calibration: PhotoCalibration | None = None  # how faces cut from photos are read (None: as the graph)
    distress_rule: DistressRule | None = None  # chosen for this model (None: the app's own)
    first_pass: FirstPass | None = None  # one network read first; the graph only where it is unsure
    model_card: str = ""  # the bundle's model_card.md (verified like every file; empty when it has none)

    @property
    def run_id(self) -> str:
        """The training run that produced this bundle."""
        return "" if self.manifest is None else self.manifest.run_id

    def predict_proba(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities (n,7) for (n,48,48) uint8 faces (or one (48,48) face)."""
        x = graph_input(faces)
        out = [np.zeros((0, len(EMOTIONS)), dtype=np.float32)]
        for start in range(0, len(x), batch_size):
            chunk = x[start:start + batch_size]
            out.append(run_graph(self.session, chunk) if self.first_pass is None
                       else cascade_probabilities(self.first_pass, self.session, chunk))
        return np.concatenate(out)

    def answered_by_first_pass(self, faces: np.ndarray) -> np.ndarray:
        """Which of the (n,48,48) uint8 faces the first pass answers alone (none without a first pass)."""
        x = graph_input(faces)
        if self.first_pass is None:
            return np.zeros(len(x), dtype=bool)
        return run_graph(self.first_pass.session, x).max(axis=1) >= self.first_pass.exit_probability

    def predict_photo_proba(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (n,7) for (n,48,48) uint8 faces cut from photos by the face step: the
        graph's, through the bundle's photo calibration when it has one."""
        probabilities = self.predict_proba(crops)
        return probabilities if self.photo_calibration is None else self.photo_calibration.apply(probabilities)


@dataclass(frozen=True)
class BundleRef:
    """Where a bundle is, and the manifest hash ``latest.json`` expects (None for a bare folder)."""

    folder: str
    manifest_sha256: str | None


def resolve(uri: str, client: Any = None) -> BundleRef:
    """Turn a store root, a ``latest.json`` or a bundle folder into a :class:`BundleRef`.

    Reads ``latest.json`` at most once; raises StorageError when nothing is published.
    """
    uri = uri.rstrip("/")
    if uri.endswith(LATEST_NAME):
        root = uri[: -len(f"/{MODELS_PREFIX}/{LATEST_NAME}")]
    elif exists(join(uri, MANIFEST_NAME), client):
        return BundleRef(uri, None)
    else:
        root = uri
    pointer = read_latest(root, client)
    if pointer is None:
        raise StorageError(f"no published model under {uri} (no {MODELS_PREFIX}/{LATEST_NAME} and no {MANIFEST_NAME})")
    return BundleRef(join(root, pointer["bundle"]), pointer.get("manifest_sha256"))


def exists(uri: str, client: Any = None) -> bool:
    """Whether the object (S3) or file (local) ``uri`` is there."""
    location = storage.parse_s3_uri(uri)
    if location is None:
        return Path(uri).is_file()
    return storage.head_object(client, location) is not None


def load_bundle(uri: str, client: Any = None, threads: int = 1) -> Bundle:
    """Load and verify a bundle from a folder, a ``latest.json`` or a store root.

    Raises BundleIntegrityError for a missing file, a hash mismatch, a newer format or a
    model that onnxruntime cannot read (a whole graph that serving never reads: when it is first
    used; ``models promote`` checks it at once); StorageError when nothing is there.
    """
    return open_bundle(resolve(uri, client), client, threads)


def open_bundle(ref: BundleRef, client: Any = None, threads: int = 1, every_graph: bool = False) -> Bundle:
    """Load and verify the bundle ``ref`` names (see :func:`load_bundle`). A bundle whose first
    pass has a graph rest never reads its whole graph: that graph is hash-checked like every file but
    loaded only when asked for (:class:`DeferredSession`), unless ``every_graph`` (a promotion's check)."""
    folder, expected_manifest = ref.folder, ref.manifest_sha256
    try:
        manifest_bytes = storage.read_bytes(join(folder, MANIFEST_NAME), client)
    except NotFound as exc:
        raise BundleIntegrityError(f"{folder} is incomplete: no {MANIFEST_NAME}") from exc
    if expected_manifest and sha256_bytes(manifest_bytes) != expected_manifest:
        raise BundleIntegrityError(f"{folder}/{MANIFEST_NAME} does not match the hash in {LATEST_NAME}")
    manifest = Manifest.loads(manifest_bytes, f"{folder}/{MANIFEST_NAME}")
    files = manifest.files
    if MODEL_NAME not in files:
        raise BundleIntegrityError(f"{folder}/{MANIFEST_NAME} lists no {MODEL_NAME}")
    first_pass_entry = manifest.first_pass
    needed = [] if first_pass_entry is None else [FIRST_PASS_NAME] + (
        [REST_NAME] if first_pass_entry.rest_passes is not None else [])
    for name in needed:
        if name not in files:
            raise BundleIntegrityError(f"{folder}/{MANIFEST_NAME} has a {FIRST_PASS_KEY} but lists no {name}")
    graphs: dict[str, bytes] = {}
    for name, entry in sorted(files.items()):
        try:
            data = storage.read_bytes(join(folder, name), client)
        except NotFound as exc:
            raise BundleIntegrityError(f"{folder} is incomplete: {name} is missing") from exc
        if sha256_bytes(data) != entry.sha256:
            raise BundleIntegrityError(f"{folder}/{name} fails its sha256 check: the bundle was altered")
        if name in (MODEL_NAME, FIRST_PASS_NAME, REST_NAME, MODEL_CARD_NAME):
            graphs[name] = data
    first_pass = None if first_pass_entry is None else first_pass_of(
        first_pass_entry, *(graphs.get(name, b"") for name in (FIRST_PASS_NAME, REST_NAME)),
        threads=threads, where=folder)
    whole = (DeferredSession if first_pass is not None and first_pass.rest is not None and not every_graph
             else onnx_session)(graphs[MODEL_NAME], threads, f"{folder}/{MODEL_NAME}")
    return Bundle(uri=folder, manifest=manifest, session=whole,
                  photo_calibration=manifest.photo_calibration, distress_rule=manifest.distress_rule,
                  first_pass=first_pass, model_card=graphs.get(MODEL_CARD_NAME, b"").decode("utf-8", "replace"))


def onnx_session(model: bytes, threads: int = 1, name: str = MODEL_NAME) -> Any:
    """An onnxruntime CPU session for ``model`` bytes, limited to ``threads`` threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise BundleIntegrityError(f"{name} cannot be loaded by onnxruntime: {exc}") from exc
    check_contract(session, name)
    return session


class DeferredSession:
    """An onnxruntime session loaded (and its contract checked) on first use: the whole graph of a
    bundle whose first pass has a graph rest, which serving never reads. Loading it costs about half
    of a bundle's loading (45-55 ms of 100 on the AVX-512 machine) and its memory."""

    def __init__(self, model: bytes, threads: int, name: str) -> None:
        self._model, self._threads, self._name = model, threads, name
        self._session: Any = None
        self._lock = threading.Lock()  # the page's sessions share one bundle

    @property
    def loaded(self) -> bool:
        """Whether the graph has been loaded."""
        return self._session is not None

    def __getattr__(self, attribute: str) -> Any:  # run, get_inputs, ...: the session's own
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        with self._lock:
            if self._session is None:
                self._session = onnx_session(self._model, self._threads, self._name)
        return getattr(self._session, attribute)


def probe_faces() -> np.ndarray:
    """Fixed 48x48 test images that every model must answer with finite probabilities before it is
    published, promoted or served: flat grey, a gradient, noise and a drawn face, then the drawn face
    as photos bring it, dark (as at night: mean under 0.3, and nearly black), bright, washed out
    and low in contrast, noisy and dark, and all black and all white. A graph that fails only on
    dark faces must not pass on four mid-grey ones."""
    side = np.arange(IMAGE_SIDE, dtype=np.float32)
    yy, xx = np.meshgrid(side, side, indexing="ij")
    face = np.full((IMAGE_SIDE, IMAGE_SIDE), 60.0, np.float32)
    face[((xx - 24) / 17) ** 2 + ((yy - 25) / 21) ** 2 <= 1] = 170.0  # the head
    for eye_x in (17, 31):
        face[((xx - eye_x) / 3) ** 2 + ((yy - 20) / 2) ** 2 <= 1] = 30.0
    face[(abs(xx - 24) <= 6) & (abs(yy - 34) <= 1)] = 40.0  # the mouth
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (IMAGE_SIDE, IMAGE_SIDE))
    variants = [
        face * 0.35,  # dark: mean brightness about 0.1
        face * 0.08,  # nearly black
        np.minimum(face * 1.5 + 60, 255),  # bright
        face * 0.1 + 200,  # washed out
        (face - 100) * 0.12 + 128,  # low contrast
        np.clip(face * 0.3 + rng.normal(0, 12, face.shape), 0, 255),  # dark and noisy
        np.zeros_like(face), np.full_like(face, 255),
    ]
    return np.stack([np.full((IMAGE_SIDE, IMAGE_SIDE), 128), (xx + yy) * 255 / 94, noise, face,
                     *variants]).round().astype(np.uint8)


def check_contract(session: Any, name: str) -> None:
    """Raise BundleIntegrityError unless the graph takes float ``(n,1,48,48)`` faces and gives
    ``(n,7)`` probabilities: finite, in [0, 1] and summing to 1 on :func:`probe_faces`."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or list(inputs[0].shape)[1:] != [1, IMAGE_SIDE,
                                                                                                IMAGE_SIDE]:
        shapes = ", ".join(f"{i.type} {i.shape}" for i in inputs)
        raise BundleIntegrityError(f"{name} does not take faces as float (n,1,{IMAGE_SIDE},{IMAGE_SIDE}); it takes "
                                   f"{shapes}")
    faces = probe_faces()[:, None].astype(np.float32) / np.float32(255.0)
    try:
        probabilities = np.asarray(session.run(None, {inputs[0].name: faces})[0])
    except Exception as exc:  # onnxruntime's untyped errors
        raise BundleIntegrityError(f"{name} fails on test faces: {exc}") from exc
    if len(outputs) < 1 or probabilities.shape != (len(faces), len(EMOTIONS)):
        raise BundleIntegrityError(f"{name} answers {probabilities.shape} for {len(faces)} faces; expected "
                                   f"({len(faces)},{len(EMOTIONS)}): one probability per emotion")
    if not np.isfinite(probabilities).all() or probabilities.min() < 0 or probabilities.max() > 1 \
            or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        bad = [i for i, row in enumerate(probabilities) if not (np.isfinite(row).all() and row.min() >= 0
                                                                 and row.max() <= 1 and abs(row.sum() - 1) <= 1e-3)]
        raise BundleIntegrityError(f"{name} does not give probabilities on test faces {bad} of {len(faces)} (NaN, "
                                   "infinite, outside [0, 1] or not summing to 1; bundle.probe_faces: dark, bright, "
                                   "low-contrast and noisy faces among them)")


def first_pass_of(entry: FirstPassEntry, first_pass_graph: bytes, rest_graph: bytes, threads: int,
                  where: str) -> FirstPass:
    """The cascade's first pass from its manifest entry and graphs (``rest_graph`` read only when the
    entry names a rest)."""
    rest = None if entry.rest_passes is None else GraphRest(
        onnx_session(rest_graph, threads, f"{where}/{REST_NAME}"), entry.rest_passes, entry.retemper)
    return FirstPass(onnx_session(first_pass_graph, threads, f"{where}/{FIRST_PASS_NAME}"), entry.exit_probability,
                     entry.answer_temperature, rest)


def load_onnx_file(path: Path, threads: int = 1, first_pass: tuple[Path, float, float] | None = None,
                   rest: tuple[Path, int, float] | None = None) -> Bundle:
    """A Bundle around a bare ``model.onnx`` (no manifest), with the first-pass graph, its exit
    probability and its answer temperature when given, and the graph's rest (its file, passes and
    temperature ratio) when given too: used while a bundle is being built."""
    cascade = None
    if first_pass is not None:
        entry = FirstPassEntry(first_pass[1], first_pass[2], *(rest[1:] if rest else (None, 1.0)))
        cascade = first_pass_of(entry, Path(first_pass[0]).read_bytes(), Path(rest[0]).read_bytes() if rest else b"",
                                threads=threads, where=str(Path(first_pass[0]).parent))
    return Bundle(uri=str(path), manifest=None, session=onnx_session(Path(path).read_bytes(), threads, str(path)),
                  first_pass=cascade)
