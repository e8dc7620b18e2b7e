"""Item crops and the built-in embedder.

The embedder contract (also for a TorchScript file configured in its place):

    forward(crops: Tensor[N, 4, S, S], scale: Tensor[N]) -> Tensor[N, D]   (rows L2-normalized)

`crops` holds the white-balanced RGB of each item (in [0, 1], the light's gradient and most of its
exposure, measured on the counter's own tray, divided out) plus its soft mask as the 4th channel,
resampled to S x S around the item;
`scale` is the crop's side as a fraction of the frame width (the camera is fixed, so it measures the
item's physical size). S is CROP_SIZE.

The built-in `ColourTextureEmbedder` needs no downloaded weights. Its descriptor is hand-designed:
colour histogram in an opponent colour space, histograms of fine texture and of the colour of dark
and bright spots (seeds, chips, berries, glaze), local patterns (rotation-invariant binary patterns
at three radii: a slit, a grid, cracks and a smooth crust differ) and edge strength, radial colour
profile, and shape (size, elongation, fill), all rotation-invariant. A small linear metric built
here (`artefacts/metric.pt`, fitted by `python -m tools.recognition.metric` on the development
split) sharpens it: the embedding is the centred descriptor next to its projection onto the
discriminant directions of the bakery's products (which bring out e.g. the cream bun's yellower
crust against the scone's). Keeping the centred descriptor itself lets products the metric never
saw still be told apart. Registering a product is then just embedding its reference photos.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CROP_SIZE = 80
DESCRIPTOR_ID = "colour-texture-v2"
DEFAULT_METRIC = Path(__file__).resolve().parent / "artefacts" / "metric.pt"


def _hist(idx: torch.Tensor, w: torch.Tensor, bins: int) -> torch.Tensor:
    """Per-row weighted histogram: idx (N, P) long in [0, bins), w (N, P) -> (N, bins)."""
    out = torch.zeros(idx.shape[0], bins, dtype=w.dtype, device=w.device)
    return out.scatter_add_(1, idx, w)


def _bin(x: torch.Tensor, lo: float, hi: float, n: int) -> torch.Tensor:
    return ((x - lo) / (hi - lo) * n).floor().clamp(0, n - 1).long()


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)


# a neighbour counts as brighter only above this step (of full scale): below it, JPEG and sensor
# noise flip the bits of a smooth crust. Chosen with the true item outlines of calibration trays
# of the fitting families (0.01-0.06 tried).
PATTERN_STEP = 0.04
PATTERN_RADII = (1, 2, 3)  # crop pixels: a crop is 80 px across whatever the item's size


def _uniform_bins() -> torch.Tensor:
    """(256,) the rotation-invariant uniform bin of each 8-bit ring pattern (see _pattern_hist)."""
    out = []
    for code in range(256):
        bits = [(code >> k) & 1 for k in range(8)]
        changes = sum(bits[k] != bits[k - 1] for k in range(8))
        out.append(sum(bits) if changes <= 2 else 9)
    return torch.tensor(out, dtype=torch.long)


_RING = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))  # in ring order


def _pattern_hist(
    lum: torch.Tensor, w: torch.Tensor, tot: torch.Tensor, bins: torch.Tensor
) -> torch.Tensor:
    """Rotation-invariant uniform local binary patterns (Ojala et al. 2002), 10 bins per radius
    of PATTERN_RADII.

    Each pixel compares its 8 neighbours on a square ring of radius r with itself; a pattern
    with at most two brighter/darker changes around the ring (an edge, a line end, a spot) is
    binned by how many neighbours are brighter (0-8), every other pattern (noise, a grid
    crossing) in bin 9. Turning the item only turns the ring, so the bin stays. The 8 bits are
    packed into a byte and binned by the table `bins` (from _uniform_bins, kept on the crops'
    device by the embedder): 6x faster than counting the changes per pixel
    in float (24 crops on one busy CPU thread: 22 instead of 133 ms).
    """
    n, _, h, wd = lum.shape
    pad = max(PATTERN_RADII)
    p = F.pad(lum, (pad, pad, pad, pad), mode="replicate")
    level = lum + PATTERN_STEP
    out = []
    for r in PATTERN_RADII:
        code = torch.zeros(n, 1, h, wd, dtype=torch.uint8, device=lum.device)
        for k, (dy, dx) in enumerate(_RING):
            y, x = pad + r * dy, pad + r * dx
            code |= (p[:, :, y : y + h, x : x + wd] >= level).to(torch.uint8) << k
        idx = bins[code.reshape(n, -1).long()]
        out.append(_unit(torch.sqrt(_hist(idx, w, 10) / tot)))
    return torch.cat(out, 1)


def _edge_hist(lum: torch.Tensor, w: torch.Tensor, tot: torch.Tensor) -> torch.Tensor:
    """Histogram of the luminance gradient's magnitude (8 log-spaced bins, 0.005 to 0.4)."""
    n = lum.shape[0]
    gx = F.pad(lum[:, :, :, 2:] - lum[:, :, :, :-2], (1, 1, 0, 0))
    gy = F.pad(lum[:, :, 2:, :] - lum[:, :, :-2, :], (0, 0, 1, 1))
    g = torch.sqrt(gx * gx + gy * gy).reshape(n, -1)
    idx = _bin(torch.log(g + 0.005), math.log(0.005), math.log(0.4), 8)
    return _unit(torch.sqrt(_hist(idx, w, 8) / tot))


class ColourTextureEmbedder(nn.Module):
    xs: torch.Tensor  # registered buffers: pixel coordinates of the crop grid
    ys: torch.Tensor
    pattern_bins: torch.Tensor  # (256,) see _pattern_hist
    mean: torch.Tensor  # metric buffers: descriptor mean (D,) and discriminant projection (D, k)
    proj: torch.Tensor
    """Hand-designed colour/texture/shape descriptor, sharpened by an optional linear metric."""

    def __init__(self, metric: dict | None = None) -> None:
        super().__init__()
        s = CROP_SIZE
        ys, xs = torch.meshgrid(
            torch.arange(s, dtype=torch.float32),
            torch.arange(s, dtype=torch.float32),
            indexing="ij",
        )
        self.register_buffer("xs", xs.reshape(1, -1), persistent=False)
        self.register_buffer("ys", ys.reshape(1, -1), persistent=False)
        self.register_buffer("pattern_bins", _uniform_bins(), persistent=False)
        # group weights, never chosen on evaluation trays: colour to shape on the development
        # split; pattern and edges with the true item outlines of calibration trays of the fitting
        # families (pattern 0.5-2 and edges 0-2 tried)
        self.w_colour = 1.0
        self.w_texture = 0.6
        self.w_spots = 2.0
        self.w_pattern = 1.0
        self.w_edges = 1.0
        self.w_radial = 1.5
        self.w_shape = 1.5
        self.has_metric = metric is not None
        self.alpha = float(metric["alpha"]) if metric is not None else 0.0
        self.register_buffer("mean", metric["mean"].float() if metric else torch.zeros(0))
        self.register_buffer("proj", metric["proj"].float() if metric else torch.zeros(0, 0))

    def forward(self, crops: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        x = self.describe(crops, scale)
        if not self.has_metric:
            return _unit(x)
        x = x - self.mean
        plain = _unit(x) * math.sqrt(1.0 - self.alpha)
        return torch.cat([plain, _unit(x @ self.proj) * math.sqrt(self.alpha)], 1)

    def describe(self, crops: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The raw descriptor (N, D): the weighted feature groups side by side."""
        n = crops.shape[0]
        rgb = crops[:, :3].clamp(0, 1)
        m = (crops[:, 3:4] > 0.5).float()
        # eroded mask: colour statistics away from the outline (no tray colour mixed in)
        me = -F.max_pool2d(-m, 5, 1, 2)
        lum = rgb.mean(1, keepdim=True)
        o1 = rgb[:, 0:1] - rgb[:, 1:2]
        o2 = (rgb[:, 0:1] + rgb[:, 1:2]) / 2 - rgb[:, 2:3]
        flat_w = me.reshape(n, -1)
        tot = flat_w.sum(1, keepdim=True).clamp_min(1.0)
        # 1) colour histogram, 8 x 6 x 6
        li = _bin(lum, 0.0, 1.0, 8)
        ai = _bin(o1, -0.1, 0.4, 6)
        bi = _bin(o2, -0.25, 0.55, 6)
        cidx = (li * 36 + ai * 6 + bi).reshape(n, -1)
        colour = _unit(torch.sqrt(_hist(cidx, flat_w, 288) / tot))
        # 2) fine texture: luminance minus its local mean (inside the item)
        num = F.avg_pool2d(lum * m, 5, 1, 2)
        den = F.avg_pool2d(m, 5, 1, 2).clamp_min(1e-3)
        c = (lum - num / den).reshape(n, -1)
        tidx = _bin(c, -0.12, 0.12, 8)
        texture = _unit(torch.sqrt(_hist(tidx, flat_w, 8) / tot))
        # 3) colour of dark and of bright spots (chips, berries, seeds, icing), 4 x 4 each
        sidx = (_bin(o1, -0.1, 0.4, 4) * 4 + _bin(o2, -0.25, 0.55, 4)).reshape(n, -1)
        dark = _hist(sidx, flat_w * (c < -0.035).float(), 16) / tot
        bright = _hist(sidx, flat_w * (c > 0.035).float(), 16) / tot
        spots = torch.sqrt(torch.cat([dark, bright], 1))
        # 3b) local patterns and edge strength: the topping's structure, not only its colour
        pattern = _pattern_hist(lum, flat_w, tot, self.pattern_bins)
        edges = _edge_hist(lum, flat_w, tot)
        # 4) radial colour profile around the centroid, 3 rings
        mf = m.reshape(n, -1)
        area = mf.sum(1).clamp_min(1.0)
        cx = (mf * self.xs).sum(1) / area
        cy = (mf * self.ys).sum(1) / area
        dx = self.xs - cx[:, None]
        dy = self.ys - cy[:, None]
        r = torch.sqrt(dx * dx + dy * dy) / torch.sqrt(area / math.pi)[:, None]
        feats = []
        occupancy = []
        chans = torch.cat([lum, o1, o2], 1).reshape(n, 3, -1)
        for lo, hi in ((0.0, 0.4), (0.4, 0.75), (0.75, 1.2)):
            ring = ((r >= lo) & (r < hi)).float()
            w = ring * flat_w
            ws = w.sum(1).clamp_min(1.0)
            feats.append((chans * w[:, None]).sum(2) / ws[:, None])
            occupancy.append((ring * mf).sum(1) / ring.sum(1).clamp_min(1.0))
        # centred on typical bread values so that differences, not magnitudes, drive the cosine
        centre = torch.tensor([0.55, 0.15, 0.2], dtype=crops.dtype, device=crops.device)
        radial = torch.cat([f - centre for f in feats] + [torch.stack(occupancy, 1) - 0.8], 1)
        # 5) shape: physical size, elongation, fill of the moment ellipse
        sxx = (mf * dx * dx).sum(1) / area
        syy = (mf * dy * dy).sum(1) / area
        sxy = (mf * dx * dy).sum(1) / area
        tr = sxx + syy
        det = (sxx * syy - sxy * sxy).clamp_min(1e-6)
        disc = torch.sqrt((tr * tr / 4 - det).clamp_min(0))
        l1 = tr / 2 + disc
        l2 = (tr / 2 - disc).clamp_min(1e-6)
        elong = torch.sqrt(l2 / l1)
        fill = area / (4 * math.pi * torch.sqrt(l1 * l2))
        phys = area * (scale / CROP_SIZE) ** 2  # item area as a fraction of frame width squared
        shape = torch.stack(
            [(torch.log(phys.clamp_min(1e-6)) + 3.9) / 2, elong - 0.7, fill - 0.85], 1
        )
        return torch.cat(
            [
                self.w_colour * colour,
                self.w_texture * texture,
                self.w_spots * spots,
                self.w_pattern * pattern,
                self.w_edges * edges,
                self.w_radial * radial,
                self.w_shape * shape,
            ],
            1,
        )


def builtin_embedder(
    metric_path: Path | None = DEFAULT_METRIC,
) -> tuple[ColourTextureEmbedder, str]:
    """The built-in embedder with the committed metric (None: the bare descriptor), and its id.

    The id names the metric's bytes, so a gallery built before the metric changed is re-embedded
    from its stored crops at load.
    """
    if metric_path is None:
        return ColourTextureEmbedder(), DESCRIPTOR_ID
    data = Path(metric_path).read_bytes()
    metric = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    digest = hashlib.sha256(data).hexdigest()[:10]
    return ColourTextureEmbedder(metric), f"{DESCRIPTOR_ID}+metric-{digest}"


# the brightness the white balance maps a tray to, and how much of the tray's own brightness
# (exposure times its albedo) it keeps: see white_balance
GREY_LEVEL = 0.6
KEEP_BRIGHTNESS = 0.5
MAX_BRIGHTEN = 1.3  # a dark tray's bright items (white buns on slate) would clip at white


def white_balance(tray_colour: torch.Tensor, grid: tuple[int, int] = (6, 8)) -> torch.Tensor:
    """Divide out the light's variation, measured on the counter's own tray (capture or estimate).

    tray_colour (B, 3, H, W): the tray model's colour at segmentation resolution. Returns the
    (B, 3, grid) gains that `crop_items` samples bilinearly at every crop pixel (the light varies
    slowly, so a full-size map is not needed). The gain is grey, the same in every channel:
    - gradients and glow go: each cell is brought to the tray's mean brightness;
    - exposure mostly goes: the mean brightness b becomes b ** KEEP_BRIGHTNESS *
      GREY_LEVEL ** (1 - KEEP_BRIGHTNESS), so a tray 10 % brighter leaves items 5 % brighter
      (divided out fully, a dark slate or red tray would push bright items past white), and
      items are brightened at most MAX_BRIGHTEN times;
    - the tray's colour is left alone. A reference photo and a customer's tray come from the same
      counter (its tray and lamp), so the colour cast is the same in both; dividing the tray's own
      colour out turned every item on a red or blue tray cyan or yellow and mixed products up.
      Measured with the true item outlines (tools.recognition.oracle), nearest-reference accuracy
      on red plastic went from 0.81 (colour divided out) to 1.00, white 0.94 to 0.98.
    """
    cell = F.adaptive_avg_pool2d(tray_colour, grid).clamp_min(1e-3).mean(1, keepdim=True)
    mean = cell.mean((2, 3), keepdim=True)
    gradient = (mean / cell).clamp(0.6, 1.6)
    exposure = mean ** (KEEP_BRIGHTNESS - 1) * GREY_LEVEL ** (1 - KEEP_BRIGHTNESS)
    exposure = exposure.clamp_max(MAX_BRIGHTEN)
    return (gradient * exposure).expand(-1, 3, -1, -1).contiguous()


def crop_items(
    img: torch.Tensor,
    gain: torch.Tensor,
    labels: torch.Tensor,
    frame: torch.Tensor,
    boxes: torch.Tensor,
    seg_size: tuple[int, int],
    groups: list[list[int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample every item to CROP_SIZE x CROP_SIZE: white-balanced RGB + its mask.

    img: (B, 3, H, W) working-resolution frames; gain: (B, 3, gh, gw) per grid cell;
    labels: (B, 1, h, w) region labels; frame/boxes: per item, boxes in segmentation pixels.
    groups: per item, the 0-based regions of `labels` it covers (None: item k is region k + 1).
    Returns crops (N, 4, S, S) and scale (N,) = crop side / frame width.
    """
    n = boxes.shape[0]
    s = CROP_SIZE
    if n == 0:
        return img.new_zeros(0, 4, s, s), img.new_zeros(0)
    sh, sw = seg_size
    b = boxes.to(img.dtype)
    cx = (b[:, 0] + b[:, 2]) / 2
    cy = (b[:, 1] + b[:, 3]) / 2
    side = torch.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * 1.12 + 2
    # affine grids in normalized coordinates (align_corners=False)
    theta = img.new_zeros(n, 2, 3)
    theta[:, 0, 0] = side / sw
    theta[:, 0, 2] = 2 * cx / sw - 1
    theta[:, 1, 1] = side / sh
    theta[:, 1, 2] = 2 * cy / sh - 1
    grid = F.affine_grid(theta, [n, 1, s, s], align_corners=False)
    out = img.new_zeros(n, 4, s, s)
    if groups is None:
        ids = torch.arange(1, n + 1, device=labels.device).view(n, 1)
    else:  # padded with 0, which is the tray: never any item's
        width = max(len(g) for g in groups)
        ids = torch.tensor([[k + 1 for k in g] + [0] * (width - len(g)) for g in groups])
        ids = ids.to(labels.device)
    for f in range(img.shape[0]):
        sel = torch.nonzero(frame == f).squeeze(1)
        k = int(sel.numel())
        if k == 0:
            continue
        g = grid[sel]
        rgb = F.grid_sample(
            img[f : f + 1].expand(k, -1, -1, -1),
            g,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        light = F.grid_sample(
            gain[f : f + 1].expand(k, -1, -1, -1),
            g,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        want = ids[sel.to(ids.device)].to(labels.dtype)
        own = labels[f : f + 1] == want[:, :, None, None]  # (k, width, h, w)
        own = (own & (want > 0)[:, :, None, None]).any(1, keepdim=True).to(img.dtype)
        mask = F.grid_sample(own, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[sel] = torch.cat([rgb * light, mask], 1)
    return out, side / sw
