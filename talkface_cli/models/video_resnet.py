"""ResNet-18 whose first layer is a 3D convolution (kernel 5x7x7) over time, as in the EDE video
branch (after Shi et al. 2022): (B, T, 1, H, W) grey frames -> (B, T, C) per-frame features."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class VideoResNet18(nn.Module):
    """3D stem (1 -> widths[0], kernel 5x7x7, spatial stride 2, max-pool) then the four ResNet-18
    stages (two BasicBlocks each) per frame, global average pool. Output width = widths[-1]."""

    def __init__(self, widths: tuple[int, int, int, int] = (64, 128, 256, 512)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(1, widths[0], (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            layers += [BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
            cin = w
        self.trunk = nn.Sequential(*layers)
        self.out_dim = widths[-1]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 1, H, W) -> (B, T, C)."""
        b, t = frames.shape[:2]
        x = self.stem(frames.transpose(1, 2))  # (B, C0, T, H/4, W/4)
        x = x.transpose(1, 2).reshape(b * t, *x.shape[1:2], *x.shape[3:])
        x = self.trunk(x).mean((2, 3))  # (B*T, C)
        return x.view(b, t, -1)
