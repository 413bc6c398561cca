"""EfficientNet-Lite0 in plain PyTorch, laid out exactly like timm's ``tf_efficientnet_lite0``.

The default backbone is built here rather than through timm because importing timm (and the
torchvision it pulls in) costs about 1.4 s, half of a first prediction's time. The parameter
names match timm's, so weights, feature caches and bundles are interchangeable with it; a test
checks that both give the same features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (block kind, repeats, kernel, first stride, expansion, output channels): EfficientNet-B0's
# stages; "lite" drops squeeze-excitation, uses ReLU6 and keeps a 32-channel stem, 1280 head.
STAGES = (("ds", 1, 3, 1, 1, 16), ("ir", 2, 3, 2, 6, 24), ("ir", 2, 5, 2, 6, 40),
          ("ir", 3, 3, 2, 6, 80), ("ir", 3, 5, 1, 6, 112), ("ir", 4, 5, 2, 6, 192),
          ("ir", 1, 3, 1, 6, 320))
STEM, HEAD = 32, 1280
BN_EPS = 1e-3  # TensorFlow's default, which these weights were trained with


class SameConv2d(nn.Conv2d):
    """A convolution padded like TensorFlow's "SAME" (asymmetric when striding), as the ported
    weights expect; stride-1 layers use ordinary symmetric padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, padding=kernel // 2 if stride == 1 else 0,
                         groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):
                total = max((math.ceil(size / self.stride[0]) - 1) * self.stride[0]
                            + self.kernel_size[0] - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class BatchNormAct(nn.BatchNorm2d):
    """BatchNorm followed by ReLU6 (or nothing), with no extra parameters: timm's key layout."""

    def __init__(self, channels: int, act: bool) -> None:
        super().__init__(channels, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class Block(nn.Module):
    """Convolution + BatchNorm pairs applied in order, with a residual when shapes allow.
    ``layers``: (conv name, bn name, in, out, kernel, stride, grouped, activation) — the names
    are timm's, so the state dict's keys are too."""

    def __init__(self, layers: list[tuple[str, str, int, int, int, int, bool, bool]]) -> None:
        super().__init__()
        self.order: list[str] = []
        for conv, norm, cin, cout, kernel, stride, grouped, act in layers:
            self.add_module(conv, SameConv2d(cin, cout, kernel, stride, groups=cin if grouped else 1))
            self.add_module(norm, BatchNormAct(cout, act=act))
            self.order += [conv, norm]
        first, last = layers[0], layers[-1]
        self.skip = all(layer[5] == 1 for layer in layers) and first[2] == last[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self.order:
            out = getattr(self, name)(out)
        return out + x if self.skip else out


def depthwise_separable(cin: int, cout: int, kernel: int, stride: int) -> Block:
    return Block([("conv_dw", "bn1", cin, cin, kernel, stride, True, True),
                  ("conv_pw", "bn2", cin, cout, 1, 1, False, False)])


def inverted_residual(cin: int, cout: int, kernel: int, stride: int, expansion: int) -> Block:
    mid = cin * expansion
    return Block([("conv_pw", "bn1", cin, mid, 1, 1, False, True),
                  ("conv_dw", "bn2", mid, mid, kernel, stride, True, True),
                  ("conv_pwl", "bn3", mid, cout, 1, 1, False, False)])


class EfficientNetLite0(nn.Module):
    """Headless EfficientNet-Lite0: ``net(images)`` gives (B, 1280) pooled features."""

    num_features = HEAD

    def __init__(self) -> None:
        super().__init__()
        self.conv_stem = SameConv2d(3, STEM, 3, stride=2)
        self.bn1 = BatchNormAct(STEM, act=True)
        stages, cin = [], STEM
        for kind, repeats, kernel, stride, expansion, cout in STAGES:
            blocks = []
            for i in range(repeats):
                step = stride if i == 0 else 1
                blocks.append(depthwise_separable(cin, cout, kernel, step) if kind == "ds"
                              else inverted_residual(cin, cout, kernel, step, expansion))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = SameConv2d(cin, HEAD, 1)
        self.bn2 = BatchNormAct(HEAD, act=True)

    def parameter_groups(self) -> list[list[str]]:
        """Parameter names by block, input side first, exactly as timm's
        ``group_matcher(coarse=False)`` groups them (the stem; each block; the head joins the last
        block): what ``--finetune N`` unfreezes, so N means the same with either build."""
        groups: dict[str, list[str]] = {}
        last_block = ".".join(str(i) for i in (len(self.blocks) - 1, len(self.blocks[-1]) - 1))
        for name, _ in self.named_parameters():
            parts = name.split(".")
            key = ("stem" if parts[0] in ("conv_stem", "bn1") else
                   ".".join(parts[1:3]) if parts[0] == "blocks" else last_block)
            groups.setdefault(key, []).append(name)
        return list(groups.values())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map (B, 1280, H/32, W/32), for Grad-CAM and fine-tuning."""
        return self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean((2, 3))
