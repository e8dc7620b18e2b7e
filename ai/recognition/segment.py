"""Segment the items lying on a plain tray, splitting touching items.

Everything here is batched over the frames of one tray and uses only torch ops, so the same code
runs on CPU and CUDA:

1. background model: the tray colour is estimated from the frame border; a pixel is foreground when
   its chromaticity differs from the tray's (shadows darken the tray but keep its chromaticity);
2. distance transform of the foreground (iterated erosions);
3. markers: the h-maxima of the distance map (one per item: two touching items meet at a neck,
   which is a deep saddle of the distance map, while noise on one item's outline makes only shallow
   bumps);
4. watershed: the markers are flooded level by level down the distance map, so touching items
   are cut at their neck.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SegmentParams:
    chroma_threshold: float = 0.075  # chromaticity distance from the tray colour
    h: float = 1.5  # dynamic a distance-map peak needs to be its own item (segmentation pixels)
    min_area: int = 90  # regions smaller than this (segmentation pixels) are crumbs
    border: int = 3  # frame border (segmentation pixels) that models the tray colour


Q = 4  # distance-map quantization: units per pixel (distances are stored as uint8)


# 3x3 max/min filters from shifted views on small integer tensors: on CPU this is ~50x faster than
# max_pool2d(stride=1) on floats. All values are >= 0, so zero padding is neutral for the max and
# makes the outside of the frame count as tray for the min.
def _max3(x: torch.Tensor) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1))
    h = torch.maximum(torch.maximum(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])
    return torch.maximum(torch.maximum(h[..., :-2, :], h[..., 1:-1, :]), h[..., 2:, :])


def _erode(x: torch.Tensor, cross: bool = False) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1))
    if cross:
        h = torch.minimum(torch.minimum(p[..., 1:-1, :-2], p[..., 1:-1, 1:-1]), p[..., 1:-1, 2:])
        v = torch.minimum(torch.minimum(p[..., :-2, 1:-1], p[..., 1:-1, 1:-1]), p[..., 2:, 1:-1])
        return torch.minimum(h, v)
    h = torch.minimum(torch.minimum(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])
    return torch.minimum(torch.minimum(h[..., :-2, :], h[..., 1:-1, :]), h[..., 2:, :])


def tray_colour(img: torch.Tensor, border: int) -> torch.Tensor:
    """Median colour of the frame border, (B, 3, 1, 1)."""
    b = img.shape[0]
    top = img[:, :, :border, :].reshape(b, 3, -1)
    bottom = img[:, :, -border:, :].reshape(b, 3, -1)
    left = img[:, :, :, :border].reshape(b, 3, -1)
    right = img[:, :, :, -border:].reshape(b, 3, -1)
    ring = torch.cat([top, bottom, left, right], dim=2)
    return ring.median(dim=2).values[:, :, None, None]


def foreground(img: torch.Tensor, p: SegmentParams) -> torch.Tensor:
    """Foreground mask (B, 1, H, W) uint8 0/1 from a (B, 3, H, W) float image in [0, 1]."""
    bg = tray_colour(img, p.border)
    chroma = img / img.sum(1, keepdim=True).clamp_min(1e-3)
    bg_chroma = bg / bg.sum(1, keepdim=True).clamp_min(1e-3)
    d2 = (chroma - bg_chroma).square().sum(1, keepdim=True)
    m = (d2 > p.chroma_threshold**2).to(torch.uint8)
    # opening only: drops isolated noisy pixels. No closing: it would bridge the 1-pixel gaps
    # between items lying side by side (measured: 69/82 -> 79/82 frames counted right).
    m = _max3(_erode(m))
    return m


def distance_transform(mask: torch.Tensor, max_iter: int = 250) -> torch.Tensor:
    """Octagonal distance to the tray in pixels (float), by counting erosions of a 0/1 mask."""
    d = torch.zeros(mask.shape, dtype=torch.int16, device=mask.device)
    cur = mask
    for i in range(max_iter):
        if not bool(cur.any()):
            break
        d = d + cur
        cur = _erode(cur, cross=bool(i % 2))
    return d.float()


def reconstruct(marker: torch.Tensor, mask: torch.Tensor, max_iter: int = 500) -> torch.Tensor:
    """Morphological reconstruction by dilation of `marker` under `mask` (same integer dtype)."""
    cur = torch.minimum(marker, mask)
    for i in range(max_iter):
        nxt = torch.minimum(_max3(cur), mask)
        if i % 4 == 3 and torch.equal(nxt, cur):
            break
        cur = nxt
    return cur


def _propagate(lab: torch.Tensor, allowed: torch.Tensor, max_iter: int) -> torch.Tensor:
    """Grow labels into unlabelled allowed pixels until stable (or max_iter)."""
    # arithmetic instead of torch.where/==: on CPU those are 20-200x slower on small int tensors
    for i in range(max_iter):
        nxt = lab + _max3(lab) * (torch.logical_not(lab) & allowed)
        if i % 4 == 3 and torch.equal(nxt, lab):
            break
        lab = nxt
    return lab


def markers(dq: torch.Tensor, h: float) -> torch.Tensor:
    """Labelled h-maxima of the quantized distance map: one connected marker per item."""
    hq = round(h * Q)
    hmax = reconstruct((dq.to(torch.int16) - hq).clamp_min(0).to(dq.dtype), dq)
    rec = reconstruct((hmax.to(torch.int16) - 1).clamp_min(0).to(dq.dtype), hmax)
    regional = (hmax - rec).bool() & dq.bool()  # hmax >= rec, so nonzero means >= 1
    # connected components of the (small) marker set: number its pixels, keep the max per component
    flat = regional.reshape(-1)
    ids = torch.cumsum(flat.to(torch.int32), 0).to(torch.int32) * flat
    lab = ids.reshape(regional.shape)
    for i in range(200):
        nxt = _max3(lab) * regional
        if i % 2 == 1 and torch.equal(nxt, lab):
            break
        lab = nxt
    return _compact(lab)


def _compact(lab: torch.Tensor) -> torch.Tensor:
    """Renumber the labels present to 1..n (0 stays 0), without sorting the whole image."""
    flat = lab.reshape(-1).long()
    present = torch.bincount(flat) > 0
    present[0] = False
    new_id = torch.cumsum(present.long(), 0) * present.long()
    return new_id[flat].reshape(lab.shape)


def watershed(dq: torch.Tensor, mask: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Flood the seeds down the distance map one pixel level at a time, inside the mask."""
    n = int(seeds.max().item())
    lab = seeds.to(torch.uint8 if n < 255 else torch.int16)
    top = int(dq.max().item())
    inside = mask.bool()
    for level in range(top - top % Q, 0, -Q):
        lab = _propagate(lab, inside & (dq >= level), 2)
    return _propagate(lab, inside, 64).long()


@dataclass
class Regions:
    """Items found in a batch of frames, at segmentation resolution."""

    labels: torch.Tensor  # (B, 1, H, W) long, 0 = tray, k = region k (1-based, unique in the batch)
    frame: torch.Tensor  # (N,) frame index of each region
    boxes: torch.Tensor  # (N, 4) x0, y0, x1, y1 (exclusive), segmentation pixels
    areas: torch.Tensor  # (N,) pixels


def segment(img: torch.Tensor, p: SegmentParams | None = None) -> Regions:
    """Find the items in (B, 3, H, W) frames in [0, 1] at segmentation resolution."""
    p = p or SegmentParams()
    mask = foreground(img, p)
    dist = distance_transform(mask)
    dist = F.avg_pool2d(dist, 3, 1, 1, count_include_pad=False) * mask  # flatten outline noise
    dq = (dist * Q).round().clamp_max(255).to(torch.uint8)
    seeds = markers(dq, p.h)
    lab = watershed(dq, mask, seeds)
    return regions(lab, p.min_area)


def regions(lab: torch.Tensor, min_area: int) -> Regions:
    """Relabel to 1..N, drop crumbs, and measure boxes and areas."""
    b, _, h, w = lab.shape
    flat = lab.reshape(-1)
    areas = torch.bincount(flat)
    keep = areas >= min_area
    keep[0] = False
    new_id = torch.cumsum(keep.long(), 0) * keep.long()
    relab = new_id[flat]
    n = int(keep.sum().item())
    dev = lab.device
    pix = torch.nonzero(relab).squeeze(1)
    idx = relab[pix] - 1
    fs = pix // (h * w)
    ys = (pix // w) % h
    xs = pix % w
    big = torch.full((n,), h * w * 10, device=dev, dtype=torch.long)
    small = torch.full((n,), -1, device=dev, dtype=torch.long)
    x0 = big.scatter_reduce(0, idx, xs, "amin")
    y0 = big.clone().scatter_reduce(0, idx, ys, "amin")
    x1 = small.scatter_reduce(0, idx, xs, "amax") + 1
    y1 = small.clone().scatter_reduce(0, idx, ys, "amax") + 1
    frame = torch.zeros(n, dtype=torch.long, device=dev).scatter_reduce(0, idx, fs, "amax")
    area = torch.bincount(idx, minlength=n)
    return Regions(relab.reshape(b, 1, h, w), frame, torch.stack([x0, y0, x1, y1], 1), area)
