"""Float networks back from an int8 bundle's graph, to fine-tune or re-export them.

An int8 bundle (``pipeline.quantize``) keeps each network's convolutions (batch norm folded
in) and linear head as int8 weights with per-channel scales and int32 biases. Dequantized,
they are float networks with the same weights up to rounding: the starting point of a
fine-tuning stage when the float checkpoints are not at hand, and a float graph whose answers do
not depend on the CPU's int8 instructions.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facemood.errors import TrainingError

_NET = re.compile(r"^/nets\.(\d+)/")


class FoldedCNN(nn.Module):
    """:class:`pipeline.model.EmotionCNN` with batch norm folded into its convolutions: the
    same layers (3x3 convolution and ReLU, a 2x2 max pool after each block), global average
    pooling, dropout and one linear layer."""

    def __init__(self, layers: list[nn.Module], head: nn.Linear, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map float (n,1,48,48) faces in [0,1] to (n,7) logits."""
        return self.head(self.features(x - 0.5))


def _dequantized(init: dict[str, np.ndarray], weight: str, weight_scale: str, input_scale: str,
                 bias: str) -> tuple[np.ndarray, np.ndarray]:
    """Float weight and bias of a QLinearConv or QGemm (symmetric int8 weights, int32 bias)."""
    scale = init[weight_scale].astype(np.float32)
    w = init[weight].astype(np.float32)
    w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    b = init[bias].astype(np.float32) * scale * init[input_scale].astype(np.float32)
    return w, b


def float_networks(model_path: Path) -> list[nn.Module]:
    """The networks of an int8 serving graph, in order (``nets.0``, ``nets.1``, ...), as float modules."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    layers: dict[int, list[nn.Module]] = {}
    heads: dict[int, nn.Linear] = {}
    for node in graph.node:
        match = _NET.match(node.name)
        if not match:
            continue
        net = int(match.group(1))
        if node.op_type == "QLinearConv":
            if init[node.input[5]].any():  # weight zero points: symmetric weights only
                raise TrainingError(f"{node.name}: asymmetric int8 weights are not supported")
            w, b = _dequantized(init, node.input[3], node.input[4], node.input[1], node.input[8])
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)
            conv.weight.data, conv.bias.data = torch.from_numpy(w), torch.from_numpy(b)
            layers.setdefault(net, []).extend([conv, nn.ReLU(inplace=True)])
        elif node.op_type == "MaxPool":
            layers.setdefault(net, []).append(nn.MaxPool2d(2))
        elif node.op_type == "QGemm":
            w, b = _dequantized(init, node.input[3], node.input[4], node.input[1], node.input[6])
            linear = nn.Linear(w.shape[1], w.shape[0])
            linear.weight.data, linear.bias.data = torch.from_numpy(w), torch.from_numpy(b)
            heads[net] = linear
    if not heads or sorted(heads) != sorted(layers):
        raise TrainingError(f"{model_path}: not an int8 serving graph of FaceMood networks")
    return [FoldedCNN(layers[i], heads[i]).eval() for i in sorted(heads)]


def graph_temperature(model_path: Path) -> float:
    """The temperature the serving graph divides each view's logits by."""
    import onnx
    from onnx import numpy_helper

    for initializer in onnx.load(str(model_path)).graph.initializer:
        if initializer.name == "temperature":
            return float(numpy_helper.to_array(initializer))
    return 1.0
