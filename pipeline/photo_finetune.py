"""Fine-tune trained networks on real photos, with FER2013 mixed in (the real-photo stage).

FER2013's crops are tidy; a student's photo is not. This stage goes on training each network
on batches that mix FER2013 Training faces with crops of labelled real photos cut by the face
step's own detector and crop rule (:mod:`facemood.photo_set`), so training sees what serving
sees. Each batch is also degraded the way phone photos are (gamma, low light, blur from low
resolution, sensor noise, contrast), on top of the usual flips and small warps. Labels are
smoothed: real photos' crowd labels are noisy, and a smoothed target keeps one doubtful label
from pulling a network far.

Each network is its own resumable stage: its epochs are checkpointed, and a finished network is
kept, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facemood.faces import FaceSettings
from facemood.faceset import FaceSet
from facemood.photo_set import PhotoCrops, cached_photo_crops, split_across_folders
from pipeline.settings import BatchTransformSettings, PhotoFinetuneSettings
from pipeline.train import NO_BUDGET, TimeBudget, to_tensor, transform_batch

log = logging.getLogger(__name__)


def degrade_batch(x: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Phone-photo degradations on a float (n,1,48,48) batch in [0,1], each face at most one
    of each kind, each kind with ``probability``: gamma and exposure (low light, harsh light),
    contrast, blur from a low-resolution capture, and sensor noise."""
    n = x.shape[0]

    def chosen() -> torch.Tensor:
        return (torch.rand(n, generator=generator) < probability).view(n, 1, 1, 1)

    def uniform(low: float, high: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * (high - low) + low).view(n, 1, 1, 1)

    gamma = torch.exp(uniform(math.log(0.5), math.log(2.0)))
    x = torch.where(chosen(), x.clamp(1e-4, 1.0) ** gamma, x)
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = torch.where(chosen(), ((x - mean) * uniform(0.5, 1.3) + mean * uniform(0.4, 1.2)).clamp(0, 1), x)
    side = int(torch.randint(12, 33, (1,), generator=generator))  # one capture resolution per batch
    small = F.interpolate(F.interpolate(x, size=(side, side), mode="area"), size=x.shape[2:], mode="bilinear",
                          align_corners=False)
    x = torch.where(chosen(), small, x)
    noise = torch.randn(x.shape, generator=generator) * uniform(0.0, 0.06)
    return torch.where(chosen(), (x + noise).clamp(0, 1), x)


@dataclass(frozen=True)
class MixedFaces:
    """What the stage trains on: FER2013 faces and real-photo crops, each with labels; the
    photos are drawn with ``photo_weights`` (summing to 1)."""

    faces: np.ndarray
    labels: np.ndarray
    photos: np.ndarray
    photo_labels: np.ndarray
    photo_weights: np.ndarray


class MixedBatches:
    """The stage's batches: each takes the next ``face_count`` FER2013 faces of the epoch's
    shuffled order and draws ``photo_count`` photo crops by their weights."""

    def __init__(self, data: MixedFaces, settings: PhotoFinetuneSettings) -> None:
        self.photo_count = max(1, round(settings.batch_size * settings.photo_share))
        self.face_count = settings.batch_size - self.photo_count
        self.faces, self.labels = torch.from_numpy(data.faces), torch.from_numpy(data.labels)
        self.photos, self.photo_labels = torch.from_numpy(data.photos), torch.from_numpy(data.photo_labels)
        self.weights = torch.from_numpy(data.photo_weights.astype(np.float64))
        self.per_epoch = math.ceil(len(data.labels) / self.face_count)

    def batch(self, order: torch.Tensor, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``step`` of the epoch whose faces come in ``order``: raw pixels in [0, 1] and labels."""
        index = order[step * self.face_count:(step + 1) * self.face_count]
        drawn = torch.multinomial(self.weights, self.photo_count, replacement=True, generator=generator)
        return (torch.cat([to_tensor(self.faces[index]), to_tensor(self.photos[drawn])]),
                torch.cat([self.labels[index], self.photo_labels[drawn]]))


def _finetune_epoch(net: nn.Module, batches: MixedBatches, optimizer: torch.optim.Optimizer, scheduler,
                    settings: PhotoFinetuneSettings, transforms: BatchTransformSettings,
                    generator: torch.Generator) -> float:
    """One epoch of the stage; returns the mean loss."""
    criterion = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    net.train()
    order = torch.randperm(len(batches.labels), generator=generator)
    total_loss = 0.0
    for step in range(batches.per_epoch):
        x, y = batches.batch(order, step, generator)
        x = degrade_batch(transform_batch(x, transforms, generator), settings.degrade_probability, generator)
        loss = criterion(net(x.contiguous(memory_format=torch.channels_last)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item()
    return total_loss / batches.per_epoch


def finetune(net: nn.Module, data: MixedFaces, settings: PhotoFinetuneSettings,
             transforms: BatchTransformSettings, checkpoint: Path, budget: TimeBudget = NO_BUDGET) -> nn.Module:
    """Fine-tune ``net`` in place (resuming from ``checkpoint``'s last finished epoch) and return it;
    ``budget`` may stop it after a saved epoch (TimeBudgetReached)."""
    generator = torch.Generator().manual_seed(settings.seed)
    batches = MixedBatches(data, settings)
    optimizer = torch.optim.SGD(net.parameters(), lr=settings.learning_rate, momentum=0.9, nesterov=True,
                                weight_decay=settings.weight_decay)
    total = batches.per_epoch * settings.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)  # our own file, written below
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        start = state["epoch"] + 1
        log.info("%s: resuming after epoch %d of %d", checkpoint.name, start, settings.epochs)
    for epoch in range(start, settings.epochs):
        started = time.monotonic()
        loss = _finetune_epoch(net, batches, optimizer, scheduler, settings, transforms, generator)
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": generator.get_state(), "epoch": epoch},
                   checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").replace(checkpoint)  # whole or absent
        log.info("%s: epoch %d/%d, loss %.4f, %.0f s", checkpoint.stem, epoch + 1, settings.epochs, loss,
                 time.monotonic() - started)
        if epoch + 1 < settings.epochs:
            budget.check(f"after epoch {epoch + 1} of {settings.epochs} of {checkpoint.name}")
    return net.eval()


@dataclass(frozen=True)
class PhotoParts:
    """The labelled photos' crops, each folder split by person: what trains and what tunes."""

    train: list[PhotoCrops]  # one per folder
    tune: PhotoCrops | None  # every folder's tune part together (None: no photos)
    calibration: PhotoCrops | None = None  # the tune parts of the folders that fit the photo calibration
    report: PhotoCrops | None = None  # the report parts of those folders: measured once, never chosen on


def photo_parts(settings: PhotoFinetuneSettings, face_settings: FaceSettings, cache: Path) -> PhotoParts:
    """Every configured folder through the photo path (cached in ``cache``), split by person
    across the folders (:func:`facemood.photo_set.split_across_folders`): a person in two
    folders falls in one part."""
    folders = [Path(source.folder) for source in settings.photos]
    split = split_across_folders(folders, [source.fractions for source in settings.photos], settings.split_seed)
    train, tune, calibration, report = [], [], [], []
    for source, folder, part_of in zip(settings.photos, folders, split):
        crops = cached_photo_crops(folder, face_settings, cache / f"{folder.name}.npz")
        parts = np.array([part_of[name] for name in crops.files.tolist()], dtype=np.int64)
        train.append(crops.subset(np.flatnonzero(parts == 0)))
        tune.append(crops.subset(np.flatnonzero(parts == 1)))
        if source.calibrates:
            calibration.append(tune[-1])
            report.append(crops.subset(np.flatnonzero(parts == 2)))
        log.info("%s: %d photos read (%d without a face): %d train, %d tune, %d report", folder,
                 len(crops.labels), len(crops.missed), len(train[-1].labels), len(tune[-1].labels),
                 int((parts == 2).sum()))
    return PhotoParts(train, concatenated(tune) if tune else None, concatenated(calibration) if calibration else None,
                      concatenated(report) if report else None)


def concatenated(parts: list[PhotoCrops]) -> PhotoCrops:
    """Several crop sets as one."""
    return PhotoCrops(np.concatenate([p.crops for p in parts]), np.concatenate([p.labels for p in parts]),
                      np.concatenate([p.persons for p in parts]), np.concatenate([p.files for p in parts]),
                      tuple(m for p in parts for m in p.missed))


def mixed_faces(train: FaceSet, photos: list[PhotoCrops]) -> MixedFaces:
    """FER2013's training faces and the photos' train parts, each folder drawn equally often."""
    kept = [p for p in photos if len(p.labels)]
    weights = np.concatenate([np.full(len(p.labels), 1.0 / (len(p.labels) * len(kept))) for p in kept])
    return MixedFaces(train.pixels, train.labels.astype(np.int64), np.concatenate([p.crops for p in kept]),
                      np.concatenate([p.labels for p in kept]).astype(np.int64), weights)


def finetuned_networks(nets: list[nn.Module], data: MixedFaces, settings: PhotoFinetuneSettings,
                       transforms: BatchTransformSettings, workdir: Path,
                       budget: TimeBudget = NO_BUDGET) -> list[nn.Module]:
    """Fine-tune each network as its own resumable stage (``photo-<i>.pt`` once finished), then
    keep ``settings.weight_mix`` of the fine-tuned weights and the rest of the starting ones
    (weight-space ensembling, as WiSE-FT: the mix trades FER2013 accuracy for real photos')."""
    done = []
    for index, net in enumerate(nets):
        start = {name: value.detach().clone() for name, value in net.state_dict().items()}
        finished = workdir / f"photo-{index}.pt"
        if finished.exists():
            net.load_state_dict(torch.load(finished, weights_only=True))
        else:
            finetune(net, data, settings, transforms, workdir / f"photo-{index}.partial.pt", budget)
            torch.save(net.state_dict(), finished.with_suffix(".tmp"))
            finished.with_suffix(".tmp").replace(finished)
            (workdir / f"photo-{index}.partial.pt").unlink(missing_ok=True)
        mix = settings.weight_mix
        net.load_state_dict({name: mix * value + (1 - mix) * start[name] for name, value in net.state_dict().items()})
        done.append(net.eval())
    return done
