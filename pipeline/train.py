"""The training loop: on-the-fly augmentation, one-cycle SGD, selection on validation."""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facemood.errors import TimeBudgetReached
from facemood.faceset import FaceSet
from pipeline.settings import BatchTransformSettings, TrainingSettings

if TYPE_CHECKING:
    from pipeline.distill import SoftTargets

log = logging.getLogger(__name__)


@dataclass
class History:
    """Per-epoch figures, for the curves plot and the manifest."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class TimeBudget:
    """When a run stops to be continued later (resumable stages of bounded length): at the first
    finished epoch, with more to come, after ``deadline`` (``time.monotonic()``); None: never."""

    deadline: float | None = None

    @classmethod
    def minutes(cls, minutes: float | None) -> TimeBudget:
        """A budget of ``minutes`` from now (None: no budget)."""
        return cls(None if minutes is None else time.monotonic() + 60.0 * minutes)

    def check(self, done: str) -> None:
        """Raise TimeBudgetReached once the deadline has passed; ``done`` says what was checkpointed."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeBudgetReached(f"stopped at the time budget {done} (checkpointed): run the same command "
                                    "again to continue from there")


NO_BUDGET = TimeBudget()


def native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX, as oneDNN reports).
    Elsewhere PyTorch's bfloat16 autocast emulates it, far slower than float32: a training batch
    of 128 faces took 11.2 s against 0.8 s on a 2-core AVX2 EPYC (``bench.train_bench --emulated-bf16``)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:  # a build without oneDNN
        return False


def resolved_training(settings: TrainingSettings, native: bool) -> TrainingSettings:
    """``settings`` with ``bf16`` on only where it is ``native`` (``training.bf16: true`` asks for
    bfloat16 where the CPU has it, never for the emulation)."""
    if settings.bf16 and not native:
        log.info("training in float32: this CPU has no native bfloat16 (emulated, it is an order of magnitude slower)")
        return replace(settings, bf16=False)
    return settings


def to_tensor(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(n,48,48) uint8 -> float (n,1,48,48) in [0,1]."""
    pixels = torch.from_numpy(pixels) if isinstance(pixels, np.ndarray) else pixels
    return pixels.unsqueeze(1).float().div_(255.0)


def transform_batch(x: torch.Tensor, settings: BatchTransformSettings, generator: torch.Generator) -> torch.Tensor:
    """Randomly flip, rotate, scale, shift and erase a float (n,1,48,48) batch.

    One affine warp per batch (grid_sample, edges replicated) keeps it vectorised.
    """
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-settings.rotation_deg, settings.rotation_deg) * math.pi / 180
    scale = uniform(settings.scale_min, settings.scale_max)
    # affine_grid spans [-1, 1], twice the side: a shift of 2 * fraction moves by fraction of the side
    shift = (uniform(-settings.shift_fraction, settings.shift_fraction),
             uniform(-settings.shift_fraction, settings.shift_fraction))
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if settings.flip else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, shift[0] * 2], dim=1),
        torch.stack([sin * flip, cos, shift[1] * 2], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if settings.erasing_probability > 0:
        out = _random_erase(out, settings.erasing_probability, generator)
    return out


def _random_erase(x: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Replace one random rectangle (10-40% of each side) with noise in a share of the images."""
    n, _, h, w = x.shape
    erase = torch.rand(n, generator=generator) < probability
    eh = (torch.rand(n, generator=generator) * 0.3 + 0.1) * h
    ew = (torch.rand(n, generator=generator) * 0.3 + 0.1) * w
    top = torch.rand(n, generator=generator) * (h - eh)
    left = torch.rand(n, generator=generator) * (w - ew)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)) & erase.view(n, 1, 1))
    noise = torch.rand(x.shape, generator=generator)
    return torch.where(mask.unsqueeze(1), noise, x)


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """Loss weights (n_max / n_class) ** power; absent classes get weight 0."""
    counts = counts.astype(np.float64)
    weights = np.where(counts > 0, (counts.max() / np.maximum(counts, 1)) ** power, 0.0)
    return torch.tensor(weights, dtype=torch.float32)


@dataclass
class TrainingRun:
    """One network's training in progress: what it updates each batch and what a checkpoint
    saves after each epoch (so a resumed run continues exactly where it stopped)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.OneCycleLR
    criterion: nn.Module
    generator: torch.Generator
    history: History = field(default_factory=History)
    best_state: dict | None = None
    best_accuracy: float = -1.0
    epoch: int = 0  # the last finished epoch

    def keep_if_best(self, validation_accuracy: float) -> None:
        """Remember this epoch's weights when they are the best on validation so far."""
        if validation_accuracy > self.best_accuracy:
            self.best_accuracy, self.history.best_epoch = validation_accuracy, self.epoch
            self.best_state = copy.deepcopy(self.model.state_dict())

    def save(self, path: Path) -> None:
        """Everything needed to resume after this epoch; written to a temporary file, then renamed."""
        temporary = path.with_suffix(".tmp")
        torch.save({"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(), "generator": self.generator.get_state(),
                    "torch_rng": torch.get_rng_state(), "history": asdict(self.history),
                    "best_state": self.best_state, "best_accuracy": self.best_accuracy}, temporary)
        temporary.replace(path)

    def resume(self, path: Path) -> None:
        """Continue from the checkpoint ``save`` wrote at ``path``."""
        state = torch.load(path, weights_only=False)  # our own file, written by save()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.history, self.best_state = History(**state["history"]), state["best_state"]
        self.best_accuracy, self.epoch = state["best_accuracy"], state["epoch"]
        log.info("resumed %s after epoch %d (best %.4f@%d)", path, self.epoch, self.best_accuracy,
                 self.history.best_epoch)


@dataclass(frozen=True)
class Checkpointing:
    """Where a run saves every finished epoch (and resumes from), and the time budget that may
    stop it after a saved epoch (TimeBudgetReached)."""

    path: Path
    budget: TimeBudget = NO_BUDGET


def _batches_per_epoch(rows: int, settings: TrainingSettings) -> int:
    batches = math.ceil(rows / settings.batch_size)
    return min(batches, settings.max_batches_per_epoch) if settings.max_batches_per_epoch else batches


def train_one_epoch(run: TrainingRun, train: tuple[torch.Tensor, torch.Tensor], settings: TrainingSettings,
                    transforms: BatchTransformSettings, soft_targets: SoftTargets | None = None) -> tuple[float, float]:
    """One pass over the shuffled training set (pixels, labels); returns (mean loss, accuracy).

    With ``soft_targets`` (distillation), the loss also follows the teachers' opinion of each face.
    """
    pixels, labels = train
    run.model.train()
    order = torch.randperm(len(labels), generator=run.generator)
    total_loss, correct, seen = 0.0, 0, 0
    for b in range(_batches_per_epoch(len(order), settings)):
        index = order[b * settings.batch_size:(b + 1) * settings.batch_size]
        if len(index) < 2:  # batch norm needs two samples
            continue
        x = transform_batch(to_tensor(pixels[index]), transforms, run.generator)
        x = x.contiguous(memory_format=torch.channels_last)
        y = labels[index]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=settings.bf16):
            logits = run.model(x)
        loss = run.criterion(logits.float(), y)
        if soft_targets is not None:
            loss = soft_targets.mix(loss, logits.float(), index)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.scheduler.last_epoch + 1 < run.scheduler.total_steps:
            run.scheduler.step()
        total_loss += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
    return total_loss / max(seen, 1), correct / max(seen, 1)


@torch.no_grad()
def torch_probabilities(model: nn.Module, pixels: np.ndarray, flip_tta: bool, bf16: bool = False,
                  batch_size: int = 512) -> np.ndarray:
    """Probabilities (n,7) for uint8 faces, averaged with the mirror image when flip_tta."""
    model.eval()
    out = []
    for start in range(0, len(pixels), batch_size):
        x = to_tensor(pixels[start:start + batch_size]).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            probs = torch.softmax(model(x).float(), dim=1)
            if flip_tta:
                probs = (probs + torch.softmax(model(torch.flip(x, dims=[3])).float(), dim=1)) / 2
        out.append(probs.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 7), dtype=np.float32)


def evaluate(model: nn.Module, faces: FaceSet, flip_tta: bool, bf16: bool) -> tuple[float, float]:
    """Return (cross-entropy loss, accuracy) of ``model`` on ``faces``."""
    probs = torch_probabilities(model, faces.pixels, flip_tta, bf16)
    picked = probs[np.arange(len(faces)), faces.labels]
    loss = float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())
    return loss, float((probs.argmax(1) == faces.labels).mean())


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def start_run(model: nn.Module, train: FaceSet, settings: TrainingSettings) -> TrainingRun:
    """A fresh run of ``model`` on ``train``: weighted loss, Nesterov SGD on a one-cycle schedule."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model.to(memory_format=torch.channels_last)
    criterion = nn.CrossEntropyLoss(weight=class_weights(train.class_counts(), settings.class_weight_power),
                                    label_smoothing=settings.label_smoothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=settings.momentum,
                                nesterov=True, weight_decay=settings.weight_decay)
    steps = _batches_per_epoch(len(train.labels), settings)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.learning_rate,
                                                    total_steps=max(steps * settings.epochs, 2))
    return TrainingRun(model, optimizer, scheduler, criterion, generator)


def fit(model: nn.Module, train: FaceSet, validation: FaceSet, settings: TrainingSettings,
        transforms: BatchTransformSettings, flip_tta: bool, *, checkpoint: Checkpointing | None = None,
        soft_targets: SoftTargets | None = None) -> History:
    """Train ``model`` in place and leave it holding the best-on-validation weights.

    ``soft_targets`` (rows in ``train``'s order) make it a network distilled from those that made them.

    With ``checkpoint``, every finished epoch is saved there (atomically) and a checkpoint
    found at the start is resumed: weights, optimizer, schedule, random streams and history;
    its budget may then stop the run after a saved epoch (TimeBudgetReached).
    """
    run = start_run(model, train, settings)
    # Faces stay uint8 (a quarter of float32's memory) and become floats one batch at a time.
    tensors = torch.from_numpy(train.pixels), torch.from_numpy(train.labels)
    if checkpoint is not None and checkpoint.path.exists():
        run.resume(checkpoint.path)
    start = time.monotonic() - run.history.seconds
    progress = _progress_bar(settings.epochs)
    while run.epoch < settings.epochs:
        run.epoch += 1
        lr = run.optimizer.param_groups[0]["lr"]
        loss, accuracy = train_one_epoch(run, tensors, settings, transforms, soft_targets)
        val_loss, val_accuracy = evaluate(model, validation, flip_tta, settings.bf16)
        for name, value in (("train_loss", loss), ("train_accuracy", accuracy), ("validation_loss", val_loss),
                            ("validation_accuracy", val_accuracy), ("learning_rate", lr)):
            getattr(run.history, name).append(round(value, 5))
        run.keep_if_best(val_accuracy)
        elapsed = time.monotonic() - start
        log.info("epoch %d/%d loss %.4f train_acc %.4f val_loss %.4f val_acc %.4f best %.4f@%d lr %.4f "
                 "elapsed %s eta %s", run.epoch, settings.epochs, loss, accuracy, val_loss, val_accuracy,
                 run.best_accuracy, run.history.best_epoch, lr, _clock(elapsed),
                 _clock(elapsed / run.epoch * (settings.epochs - run.epoch)))
        if progress:
            progress(run.epoch, val_accuracy)
        run.history.seconds = round(time.monotonic() - start, 1)
        if checkpoint is not None:
            run.save(checkpoint.path)
        if run.epoch - run.history.best_epoch >= settings.early_stopping_patience:
            run.history.stopped_early = True
            log.info("early stop: no validation gain for %d epochs", settings.early_stopping_patience)
            break
        if checkpoint is not None and run.epoch < settings.epochs:
            checkpoint.budget.check(f"after epoch {run.epoch} of {settings.epochs} of {checkpoint.path.name}")
    run.history.seconds = round(time.monotonic() - start, 1)
    if run.best_state is not None:
        model.load_state_dict(run.best_state)
    model.to(memory_format=torch.contiguous_format)
    return run.history


def _progress_bar(total: int):
    """A live one-line bar on a TTY (stderr); None in CloudWatch and CI, where logs suffice."""
    if not sys.stderr.isatty():
        return None

    def show(epoch: int, accuracy: float) -> None:
        filled = int(30 * epoch / total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {epoch}/{total} val_acc {accuracy:.3f}")
        if epoch == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
