"""The convolutional network: VGG-style blocks sized for 48x48 faces on a CPU budget."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facemood.emotions import IMAGE_SIDE


def _conv_bn(in_ch: int, out_ch: int) -> list[nn.Module]:
    """A 3x3 convolution, batch norm and ReLU."""
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class EmotionCNN(nn.Module):
    """Blocks of 3x3 convolutions, each block halving the resolution.

    ``widths[i]`` is the channel count of block ``i``; ``convs_per_block[i]`` how many
    convolutions it has. Global average pooling, dropout and one linear layer give logits.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        convs_per_block: tuple[int, ...] = (1, 2, 2, 2),
        dropout: float = 0.3,
        num_classes: int = 7,
    ) -> None:
        super().__init__()
        if len(widths) != len(convs_per_block):
            raise ValueError("widths and convs_per_block must have the same length")
        layers: list[nn.Module] = []
        in_ch = 1
        for width, convs in zip(widths, convs_per_block):
            for _ in range(convs):
                layers += _conv_bn(in_ch, width)
                in_ch = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_ch, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map float (n,1,48,48) faces in [0,1] to (n,num_classes) logits."""
        return self.head(self.features(x - 0.5))


def tta_views(x: torch.Tensor, flip: bool, zoom: float) -> torch.Tensor:
    """The views each network reads, stacked along the batch: the faces, their mirror images
    (``flip``), and the same again slightly closer (``zoom`` > 1: the centre of the face scaled up
    by that factor, bilinear, cropped back to the input size)."""
    views = [x, torch.flip(x, dims=[3])] if flip else [x]
    if zoom > 1.0:
        side = IMAGE_SIDE  # a constant, so the exported graph holds fixed sizes
        big = round(side * zoom)
        offset = (big - side) // 2
        closer = F.interpolate(x, size=(big, big), mode="bilinear", align_corners=False)
        closer = closer[:, :, offset:offset + side, offset:offset + side]
        views += [closer, torch.flip(closer, dims=[3])] if flip else [closer]
    return torch.cat(views)


class ServingModel(nn.Module):
    """What the bundle exports: calibrated probabilities, averaged over the networks (an
    ensemble of one or more) and over each network's views of the face (see :func:`tta_views`).

    Test-time augmentation and temperature scaling live in the exported graph so every caller
    gets them: each view's logits are divided by ``temperature`` before its softmax.
    """

    def __init__(self, nets: list[nn.Module], flip_tta: bool = True, temperature: float = 1.0,
                 zoom_tta: float = 1.0) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.flip_tta = flip_tta
        self.zoom_tta = zoom_tta
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map float (n,1,48,48) faces in [0,1] to (n,7) probabilities."""
        views = tta_views(x, self.flip_tta, self.zoom_tta)  # one batch per network
        probs = [torch.softmax(net(views) / self.temperature, dim=1) for net in self.nets]
        return torch.cat(probs).reshape(-1, x.shape[0], probs[0].shape[1]).mean(dim=0)


class ServingRest(ServingModel):
    """The serving graph less one pass: network ``read``'s view of the face as it is, which the
    first pass has already read (:mod:`facemood.first_pass`). Gives the mean of the other passes'
    probabilities; the cascade adds the first pass's own (at the graph's temperature) to make the
    whole graph's mean without running that network on the face twice."""

    def __init__(self, nets: list[nn.Module], read: int, flip_tta: bool = True, temperature: float = 1.0,
                 zoom_tta: float = 1.0) -> None:
        super().__init__(nets, flip_tta, temperature, zoom_tta)
        self.read = read

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map float (n,1,48,48) faces in [0,1] to the (n,7) mean of every pass but the one read."""
        n = x.shape[0]
        views = tta_views(x, self.flip_tta, self.zoom_tta)
        total = None
        for index, net in enumerate(self.nets):
            seen = views[n:] if index == self.read else views  # the face as it is comes first
            probs = torch.softmax(net(seen) / self.temperature, dim=1)
            summed = probs.reshape(-1, n, probs.shape[1]).sum(dim=0)
            total = summed if total is None else total + summed
        return total / self.rest_passes()

    def rest_passes(self) -> int:
        """How many passes this graph averages: every network's views, less the one read."""
        per_net = (2 if self.flip_tta else 1) * (2 if self.zoom_tta > 1.0 else 1)
        return len(self.nets) * per_net - 1
