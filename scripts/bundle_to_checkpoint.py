"""Turn a published bundle's network back into a training checkpoint (one ensemble member).

The exported graph holds each convolution with its batch norm folded in; loading those
weights into the same architecture with identity batch norms gives the very same network.
``make model`` uses it to reuse the shipped network as the ensemble's first member instead of
retraining it (about an hour on 2 cores):

    python -m scripts.bundle_to_checkpoint models/<run_id> WORKDIR/member-42.pt [--config F]
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from pipeline.main import build_model
from pipeline.settings import load_pipeline_settings
from pipeline.train import History


def network_from_onnx(path: Path, settings) -> torch.nn.Module:
    """The EmotionCNN whose folded weights ``path`` holds (batch norms set to identity)."""
    graph = onnx.load(str(path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    convs = sorted((name for name in weights if name.startswith("onnx::Conv_")),
                   key=lambda name: int(re.sub(r"\D", "", name)))
    net = build_model(settings)
    layers = [m for m in net.features if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d))]
    pairs = list(zip(layers[0::2], layers[1::2]))
    if len(convs) != 2 * len(pairs):
        raise ValueError(f"{path}: {len(convs) // 2} folded convolutions, the config describes {len(pairs)}")
    with torch.no_grad():
        for (conv, norm), weight, bias in zip(pairs, convs[0::2], convs[1::2]):
            conv.weight.copy_(torch.from_numpy(np.array(weights[weight])))
            norm.weight.fill_(1.0)
            norm.bias.copy_(torch.from_numpy(np.array(weights[bias])))
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        head = net.head[-1]
        head.weight.copy_(torch.from_numpy(np.array(weights["net.head.3.weight"])))
        head.bias.copy_(torch.from_numpy(np.array(weights["net.head.3.bias"])))
    return net.eval()


def main() -> None:
    """Write the checkpoint and check it reproduces the bundle's probabilities."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--config", default="config/model-fer2013.yaml")
    args = parser.parse_args()
    settings = load_pipeline_settings(args.config)
    net = network_from_onnx(args.bundle / "model.onnx", settings)
    metrics = json.loads((args.bundle / "metrics.json").read_text())
    history = History(**metrics["history"])
    from facemood.bundle import load_onnx_file
    from pipeline.model import ServingModel

    faces = np.random.default_rng(0).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    with torch.no_grad():
        mine = ServingModel([net], settings.model.flip_tta)(torch.from_numpy(faces[:, None] / 255.0).float()).numpy()
    theirs = load_onnx_file(args.bundle / "model.onnx").predict_proba(faces)
    difference = float(np.abs(mine - theirs).max())
    if difference > 1e-4:
        raise SystemExit(f"the rebuilt network differs from the bundle by {difference:.2e}")
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "history": json.dumps(asdict(history))}, args.checkpoint)
    print(f"{args.checkpoint}: the network of {args.bundle} (max |difference| {difference:.1e})")


if __name__ == "__main__":
    main()
