"""Segment the items lying on a tray of any colour or texture, splitting touching items.

Everything here is batched over the frames of one tray and uses only torch ops, so the same code
runs on CPU and CUDA:

1. the tray model (`background.py`: the counter's capture re-lit to the frame, else the tray
   estimated from the frame) gives every pixel's expected colour and texture;
2. a pixel is foreground when it departs from the tray in a way light cannot explain: its colour
   once shading is divided out (a shadow darkens all channels alike), its colour once added white
   light is subtracted (glare), its brightness beyond any shadow, or texture and edges the tray
   does not have (pale and white items on light trays show mostly by their outline and crust);
3. holes enclosed by an item are filled (a ring, a knot, sprinkles, seeds and a light cream centre
   stay one item); the crop mask leaves out the filled pixels that are plainly tray (a ring keeps
   its hole);
4. distance transform of the filled mask without the bridges that blurred outlines lay between
   close items (`gaps`), its h-maxima as markers (one per item: two touching items meet at a
   neck, a deep saddle of the distance map), and a level-by-level watershed that
   cuts touching items at their neck; `split.py` then cuts regions at two facing concave
   corners;
5. groups of touching regions are listed (`touching`): recognition embeds each whole too and
   keeps a cut only where the products explain the pieces better (`cuts.py`).

`Regions.leftover` measures, per frame, what looks unlike the tray (at a lower threshold) yet
belongs to no region: the pipeline's safety net sends such a tray to staff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .background import DARK, TrayModel, estimate, texture_level
from .split import SplitParams, split_touching


@dataclass(frozen=True)
class SegmentParams:
    chroma: float = 0.05  # log-colour difference from the tray, shading (and glare) removed
    chroma_abs: float = 0.03  # and the same difference in intensity (0-1), shading removed
    brighter: float = 0.14  # log brightness above the tray (not glare)
    darker: float = 1.15  # log brightness below the tray: darker than any shadow
    texture: float = 0.022  # texture level above the tray's own
    weak: float = 0.5  # faint foreground, kept where it touches clear foreground
    grow: int = 40  # how far (segmentation pixels) faint foreground may reach from clear
    sensitive: float = 0.7  # the safety net's threshold, as a share of the ones above
    h: float = 1.5  # dynamic a distance-map peak needs to be its own item (segmentation pixels)
    min_area: int = 90  # regions smaller than this (segmentation pixels) are crumbs
    explained: int = 4  # pixels around a region that its outline and shadow may blur into
    # the chroma threshold as a multiple of the frame's median chroma: JPEG noise in a saturated
    # or dark tray's weak channels has a long tail (its 99th percentile is ~3.3x the median on
    # red, blue and slate trays; 3x left 10-17 % of such a tray above the weak threshold)
    noise_floor: float = 6.0
    split: SplitParams | None = SplitParams()  # None: no cuts at concave junctions
    # close items: an outline blurs onto the tray, so two items a few pixels apart are bridged by
    # pixels that still depart from it, yet clearly less than the items on either side
    gap: float = 0.5  # a bridge departs less than this share of the weaker side (0: no gaps)
    gap_side: float = 3.0  # and both sides depart at least this much
    gap_reach: int = 3  # how far (segmentation pixels) each side is looked for


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


def departure(
    img: torch.Tensor, tray: TrayModel, p: SegmentParams, texture: torch.Tensor | None = None
) -> torch.Tensor:
    """How far each pixel is from the tray, (B, 1, H, W): 1 is the foreground threshold."""
    bg = tray.colour
    lq = torch.log(img + DARK) - tray.log_colour
    lum = lq.mean(1, keepdim=True)
    chroma_shade = (lq - lum).square().sum(1, keepdim=True).sqrt()
    # glare adds white light (g to every channel, clipped at white): what it cannot explain
    g = (img - bg).amax(1, keepdim=True).clamp_min(0)
    glare_residual = img - (bg + g).clamp_max(1.0)
    chroma_glare = glare_residual.square().sum(1, keepdim=True).sqrt()
    chroma_glare = chroma_glare / (bg.mean(1, keepdim=True) + 0.05)
    chroma = torch.minimum(chroma_shade, chroma_glare)
    # JPEG noise in a saturated tray's dark channels: the threshold rises above the frame's own
    # noise floor (the median pixel is tray: items cover well under half a tray)
    b = img.shape[0]
    floor = chroma[:, :, ::4, ::4].reshape(b, -1).median(1).values.view(b, 1, 1, 1)
    threshold = torch.clamp(p.noise_floor * floor, min=p.chroma)
    # on a dark tray the logarithm magnifies JPEG's blocky colour noise (a few levels out of 255
    # read as 0.05 on slate, in sparse blocks the median does not see): a colour difference must
    # also be one in plain intensity, once shading is taken out
    shaded = bg * torch.exp(lum)
    plain = (img - shaded).square().sum(1, keepdim=True).sqrt() / p.chroma_abs
    chroma = torch.minimum(chroma / threshold, plain)
    texture = texture if texture is not None else texture_level(img)
    texture = (texture - 1.5 * tray.texture).clamp_min(0) / p.texture
    # an outline is textured on both its sides: the 3x3 minimum keeps the texture of an item's
    # surface but not the rim it spreads onto the tray, which would weld touching items together
    texture = -F.max_pool2d(-texture, 3, 1, 1)
    # brighter than the tray counts unless it is plain added white light (glare), within the
    # same noise: on a red tray, JPEG noise alone left 0.03 of residual around a glare spot,
    # above a fixed 0.025, and its bright rim was taken for items
    not_glare = ((chroma_glare > 0.5 * threshold) | (texture > 0.5)).to(img.dtype)
    brighter = lum.clamp_min(0) * not_glare / p.brighter
    darker = (-lum).clamp_min(0) / p.darker
    return torch.maximum(torch.maximum(chroma, texture), torch.maximum(brighter, darker))


def _open(m: torch.Tensor) -> torch.Tensor:
    return _max3(_erode(m))


def fill_holes(mask: torch.Tensor, max_iter: int = 64) -> torch.Tensor:
    """Fill the tray pixels (0/1 uint8 mask) that are enclosed by foreground.

    A pixel with foreground on all four sides along its row and column is a hole candidate; the
    candidates that a geodesic growth from the certainly-outside tray reaches (a bay, the gap
    between two items) are not holes. Candidates are small, so the growth stops early.
    """
    fg = mask.bool()
    left = torch.cummax(mask, dim=3).values.bool()
    right = torch.cummax(mask.flip(3), dim=3).values.flip(3).bool()
    up = torch.cummax(mask, dim=2).values.bool()
    down = torch.cummax(mask.flip(2), dim=2).values.flip(2).bool()
    candidate = left & right & up & down & ~fg
    outside = (~fg & ~candidate).to(torch.uint8)
    free = (~fg).to(torch.uint8)
    reached = reconstruct(outside, free, max_iter)
    return mask | (candidate & ~reached.bool()).to(torch.uint8)


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
    # the crop masks: `labels` without the filled holes that are plainly tray (a ring's hole)
    solid: torch.Tensor | None = None
    # per frame: pixels unlike the tray that no region explains, and the box around them
    leftover: torch.Tensor | None = None  # (B,) pixels
    leftover_boxes: torch.Tensor | None = None  # (B, 4)
    # groups of touching regions (their rows) that may be one item (`touching`): recognition
    # decides whether each stays in pieces
    members: list[list[int]] = field(default_factory=list)


def segment(
    img: torch.Tensor,
    p: SegmentParams | None = None,
    tray: TrayModel | None = None,
    texture: torch.Tensor | None = None,
) -> Regions:
    """Find the items in (B, 3, H, W) frames in [0, 1] at segmentation resolution.

    tray: the counter's tray model (from its capture); None: estimated from the frames.
    texture: `background.texture_level(img)` when the caller has it already.
    """
    p = p or SegmentParams()
    texture = texture if texture is not None else texture_level(img)
    tray = tray if tray is not None else estimate(img, texture)
    score = departure(img, tray, p, texture)
    # hysteresis: faint parts (a pale item's body) join the item whose clear parts they touch
    strong = _open((score > 1).to(torch.uint8))
    weak = _open((score > p.weak).to(torch.uint8)) | strong
    raw = reconstruct(strong, weak, p.grow)
    mask = fill_holes(raw)
    core = mask & ~gaps(score, mask, p) if p.gap > 0 else mask
    dist = distance_transform(core)
    dist = F.avg_pool2d(dist, 3, 1, 1, count_include_pad=False) * mask  # flatten outline noise
    dq = (dist * Q).round().clamp_max(255).to(torch.uint8)
    seeds = markers(dq, p.h)
    lab = watershed(dq, mask, seeds)
    cut = split_touching(lab, p.split) if p.split is not None else lab
    out = regions(cut, p.min_area)
    # the crop mask keeps a filled hole only where it does not look like tray
    looks_unlike = (raw.bool() | (score > 0.5)).long()
    out.solid = out.labels * looks_unlike
    out.members = touching(out.labels)
    # the safety net: unlike the tray (at a lower threshold), but in no region nor near one
    smooth = F.avg_pool2d(score, 3, 1, 1, count_include_pad=False)
    sensitive = _open((smooth > p.sensitive).to(torch.uint8))
    near = (out.labels > 0).to(torch.uint8)
    for _ in range(p.explained):
        near = _max3(near)
    left = sensitive.bool() & ~near.bool()
    out.leftover, out.leftover_boxes = _leftover(left)
    return out


def gaps(score: torch.Tensor, mask: torch.Tensor, p: SegmentParams) -> torch.Tensor:
    """The bridges between close items (B, 1, H, W) bool: left out of the distance map, so that
    its watershed cuts there.

    A pixel is a bridge when, along a row, a column or a diagonal, both sides within `gap_reach`
    depart from the tray at least `gap_side` and it departs less than `gap` times the weaker
    side. Only bridges joined to the tray count (the tray around the items, or a clear patch of
    tray they enclose): the body between a muffin's berries, a roll's spiral groove or a dark
    mark is enclosed by its item and is left alone.
    """
    s = score.clamp_max(4 * p.gap_side)  # item interiors differ; what matters is their edge
    k = p.gap_reach
    pad = F.pad(s, (k, k, k, k))
    h, w = s.shape[-2:]

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return pad[..., k + dy : k + dy + h, k + dx : k + dx + w]

    low = torch.zeros_like(mask)
    for uy, ux in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ahead = torch.stack([shifted(uy * i, ux * i) for i in range(1, k + 1)]).amax(0)
        behind = torch.stack([shifted(-uy * i, -ux * i) for i in range(1, k + 1)]).amax(0)
        side = torch.minimum(ahead, behind)
        low |= ((side >= p.gap_side) & (s < p.gap * side)).to(mask.dtype)
    tray = (1 - mask) | _open((score < 0.5 * p.weak).to(mask.dtype))
    return reconstruct(tray, tray | low, 40).bool() & mask.bool()


def touching(labels: torch.Tensor) -> list[list[int]]:
    """Groups of touching regions (rows, 0-based, of `labels`' regions 1..N) that may be one
    item: each touching pair, and each blob of three or more touching regions, whole.

    The watershed cuts a blob of foreground at every neck of its distance map and `split.py` at
    concave corners: where two items touch, but also at a pretzel's waist or between a twist's
    strands. Recognition decides which cuts stand (`cuts.py`)."""
    pairs = []
    for a, b in (
        (labels[..., :, :-1], labels[..., :, 1:]),
        (labels[..., :-1, :], labels[..., 1:, :]),
    ):
        meet = (a != b) & (a > 0) & (b > 0)
        if bool(meet.any()):
            ab = torch.stack([a[meet], b[meet]], 1)
            pairs.append(torch.stack([ab.amin(1), ab.amax(1)], 1))
    if not pairs:
        return []
    edges = [(a - 1, b - 1) for a, b in torch.unique(torch.cat(pairs), dim=0).tolist()]
    root = list(range(int(labels.max())))

    def find(k: int) -> int:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for a, b in edges:
        ra, rb = find(a), find(b)
        root[max(ra, rb)] = min(ra, rb)
    blobs: dict[int, list[int]] = {}
    for k in sorted({k for e in edges for k in e}):
        blobs.setdefault(find(k), []).append(k)
    return [list(e) for e in edges] + [rows for rows in blobs.values() if len(rows) >= 3]


def grouped(reg: Regions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The frame, box and area of each of `reg.members`' groups, taken as one region."""
    dev = reg.boxes.device
    frame = torch.stack([reg.frame[g[0]] for g in reg.members])
    boxes = torch.stack(
        [
            torch.cat([reg.boxes[g, :2].amin(0), reg.boxes[g, 2:].amax(0)])
            for g in (torch.tensor(g, device=dev) for g in reg.members)
        ]
    )
    areas = torch.stack([reg.areas[g].sum() for g in reg.members])
    return frame, boxes, areas


def _leftover(left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame: the number of leftover pixels and their bounding box (zeros when none)."""
    b, _, h, w = left.shape
    area = left.reshape(b, -1).sum(1)
    rows = left.any(3).reshape(b, h)
    cols = left.any(2).reshape(b, w)
    ys = torch.arange(h, device=left.device)
    xs = torch.arange(w, device=left.device)
    big = torch.tensor(10**6, device=left.device)
    y0 = torch.where(rows, ys, big).amin(1)
    y1 = torch.where(rows, ys, -1).amax(1) + 1
    x0 = torch.where(cols, xs, big).amin(1)
    x1 = torch.where(cols, xs, -1).amax(1) + 1
    boxes = torch.stack([x0, y0, x1, y1], 1) * (area > 0)[:, None]
    return area, boxes


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
