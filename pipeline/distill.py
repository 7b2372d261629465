"""Knowledge distillation: a distilled network learns the trained members' averaged opinion.

(Called a "student" in the literature; FaceMood keeps that word for the people who check in.)

The members (the teachers) read every training face once, through the views of
:func:`pipeline.model.tta_views` (``distillation.teacher_zoom_tta`` says how much closer); the
mean of their log-probabilities is each face's soft target. The distilled network then
trains as a member does, on randomly transformed batches (the transforms keep the expression,
so a face keeps its target), with a loss that mixes the labels' cross-entropy and the
temperature-softened Kullback-Leibler divergence to the soft target (Hinton et al., 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facemood.emotions import NUM_CLASSES
from pipeline.model import tta_views
from pipeline.train import to_tensor


@dataclass(frozen=True)
class SoftTargets:
    """Per training face, the teachers' mean log-probabilities, and how the loss weighs them."""

    log_probabilities: torch.Tensor  # (n, classes), rows in the training set's order
    weight: float  # share of the loss that follows the teachers; the rest follows the labels
    temperature: float  # softens both distributions before they are compared

    def mix(self, label_loss: torch.Tensor, logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``label_loss`` mixed, by ``weight``, with the temperature-scaled KL divergence from the
        targets of training rows ``index`` to ``logits`` (times temperature squared, so its
        gradients keep their size as the temperature moves)."""
        target = torch.log_softmax(self.log_probabilities[index] / self.temperature, dim=1)
        learned = torch.log_softmax(logits / self.temperature, dim=1)
        divergence = F.kl_div(learned, target, reduction="batchmean", log_target=True) * self.temperature ** 2
        return (1.0 - self.weight) * label_loss + self.weight * divergence


@torch.no_grad()
def teacher_log_probabilities(teachers: list[nn.Module], pixels: np.ndarray, flip_tta: bool,
                              zoom_tta: float, bf16: bool = True, batch_size: int = 512) -> torch.Tensor:
    """The mean over teachers and views (:func:`pipeline.model.tta_views`) of log-softmax(logits),
    for uint8 faces (n,48,48). With ``bf16``, in bfloat16 as training runs: targets need no more
    precision, and float32 takes several times as long on a CPU."""
    chunks = []
    for teacher in teachers:
        teacher.eval().to(memory_format=torch.channels_last)
    for start in range(0, len(pixels), batch_size):
        x = to_tensor(pixels[start:start + batch_size])
        views = tta_views(x, flip_tta, zoom_tta).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            per_view = [torch.log_softmax(t(views).float(), dim=1).reshape(-1, len(x), NUM_CLASSES)
                        for t in teachers]
        chunks.append(torch.cat(per_view).mean(dim=0))
    for teacher in teachers:
        teacher.to(memory_format=torch.contiguous_format)
    return torch.cat(chunks) if chunks else torch.zeros((0, NUM_CLASSES))
