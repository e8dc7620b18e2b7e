"""Frames for the segmentation tests (torch; kept apart from tests/ai/images.py, which the AI's
mock-mode test imports in a process that must never load torch)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def seg_input(frames: list[Image.Image]) -> torch.Tensor:
    """1280x960 frames as `segment` takes them: (B, 3, 240, 320) in [0, 1], as the pipeline's
    segmentation resolution is a quarter of the frame's."""
    x = torch.stack([torch.from_numpy(np.array(f.reduce(2))).permute(2, 0, 1) for f in frames])
    return F.avg_pool2d(x.float() / 255.0, 2)
