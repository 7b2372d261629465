"""Export to ONNX and check the export against PyTorch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facemood.bundle import Bundle
from facemood.errors import TrainingError
from pipeline.model import ServingModel

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-4


def export_onnx(nets: list[nn.Module], path: Path, flip_tta: bool, temperature: float = 1.0,
                zoom_tta: float = 1.0) -> ServingModel:
    """Write ``nets`` wrapped as the serving model (views, temperature, softmax, the mean over
    views and networks) to ``path``."""
    serving = ServingModel(nets, flip_tta, temperature, zoom_tta).eval()
    export_onnx_module(serving, path)
    return serving


def export_onnx_module(module: nn.Module, path: Path) -> None:
    """Write a module mapping float (n,1,48,48) faces to (n,7) probabilities to ``path`` as the
    bundle's graphs are: input ``faces``, output ``probabilities``, any number of faces."""
    example = torch.rand(2, 1, 48, 48)
    # The TorchScript exporter: deterministic and enough for a plain CNN (no control flow).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module, (example,), str(path), input_names=["faces"], output_names=["probabilities"],
            dynamic_axes={"faces": {0: "n"}, "probabilities": {0: "n"}}, opset_version=17, dynamo=False,
        )


def check_parity(serving: nn.Module, exported: Bundle, faces: np.ndarray) -> float:
    """Compare the exported model's probabilities (ONNX Runtime) with PyTorch's on ``faces``;
    raise if they differ. Returns the largest absolute difference."""
    x = faces[:, None].astype(np.float32) / np.float32(255.0)
    with torch.no_grad():
        expected = serving.eval()(torch.from_numpy(x)).numpy()
    actual = exported.predict_proba(faces)
    difference = float(np.abs(actual - expected).max())
    if difference > PARITY_TOLERANCE:
        raise TrainingError(f"ONNX export differs from PyTorch by {difference:.2e} (> {PARITY_TOLERANCE:g})")
    log.info("ONNX parity on %d faces: max |difference| %.2e", len(faces), difference)
    return difference
