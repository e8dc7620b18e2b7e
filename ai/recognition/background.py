"""The tray an item lies on: its colour and texture at every pixel, from a capture or the frame.

A counter's camera and tray are fixed, so an empty-tray capture (1-4 frames) records, per pixel,
the tray's colour under the counter's light and how much its surface varies (grain, fibres,
speckle). At recognition the capture is re-lit to the frame: a smooth multiplicative correction
fitted on the pixels that still look like the capture absorbs a changed exposure, colour
temperature or gradient. Where the capture clipped at white, it bounds the tray from below only.

Without a capture the tray is estimated from the frame itself: a smooth surface (cubic in
the log colour, which models light gradients and a backlit glow) fitted robustly on coarse cells
— first the frame's border, where items rarely lie, then every cell that the fit explains — and
its texture level measured on those tray cells.

Either way the result is a `TrayModel` at segmentation resolution: the segmentation compares each
pixel with it, and the white balance divides its light out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

CELL = 8  # coarse cell (segmentation pixels) of the surface fits
EPS = 1.0 / 255
# colours are compared as log(value + DARK): the offset damps dark channels, where JPEG noise is
# a large share of the value
DARK = 0.03
CLIPPED = 0.985  # a channel at or above this is taken as clipped at white (251 of 255)


@dataclass
class TrayModel:
    """The tray behind a batch of frames: (B, 3, H, W) colour, (B, 1, H, W) texture level."""

    colour: torch.Tensor
    texture: torch.Tensor
    source: str  # "capture" | "estimate"
    log_colour: torch.Tensor  # log(colour + DARK), what the segmentation compares with


@dataclass
class Capture:
    """A counter's empty tray at segmentation resolution (what `capture` measured)."""

    colour: torch.Tensor  # (3, H, W) float in [0, 1]
    texture: torch.Tensor  # (1, H, W) local texture level of the empty tray
    frames: int

    def to_state(self) -> dict:
        return {
            "colour": (self.colour.clamp(0, 1) * 255).round().to(torch.uint8).cpu(),
            "texture": self.texture.to(torch.float16).cpu(),
            "frames": self.frames,
        }

    @classmethod
    def from_state(cls, d: dict) -> Capture:
        return cls(d["colour"].float() / 255.0, d["texture"].float(), int(d["frames"]))


def luminance_log(img: torch.Tensor) -> torch.Tensor:
    return torch.log(img.mean(1, keepdim=True) + EPS)


def texture_level(img: torch.Tensor) -> torch.Tensor:
    """Local texture (B, 1, H, W): mean absolute deviation of log luminance from its 3x3 mean.

    Smooth shading, gradients and soft shadows barely register; crust, seeds, sprinkles and
    item outlines do.
    """
    lum = luminance_log(img)
    dev = (lum - F.avg_pool2d(lum, 3, 1, 1, count_include_pad=False)).abs()
    return F.avg_pool2d(dev, 3, 1, 1, count_include_pad=False)


def _design(gh: int, gw: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Cubic polynomial terms of the cell centres, (gh * gw, 10)."""
    ys = torch.linspace(-1, 1, gh, device=device, dtype=dtype)
    xs = torch.linspace(-1, 1, gw, device=device, dtype=dtype)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    y, x = y.reshape(-1), x.reshape(-1)
    terms = [torch.ones_like(x), x, y, x * x, y * y, x * y]
    terms += [x * x * x, y * y * y, x * x * y, x * y * y]
    return torch.stack(terms, 1)


def _fit_surface(
    cells: torch.Tensor, weight: torch.Tensor, design: torch.Tensor, ridge: float = 1e-3
) -> torch.Tensor:
    """Weighted least squares of each channel of `cells` (B, C, N) on `design` (N, P)."""
    w = weight.clamp_min(0)  # (B, N)
    a = design[None] * w[..., None]  # (B, N, P)
    ata = a.transpose(1, 2) @ design[None].expand_as(a)  # (B, P, P)
    ata = ata + ridge * torch.eye(design.shape[1], device=ata.device, dtype=ata.dtype)
    atb = a.transpose(1, 2) @ cells.transpose(1, 2)  # (B, P, C)
    coef = torch.linalg.solve(ata, atb)
    return (design[None] @ coef).transpose(1, 2)  # (B, C, N)


def _border_weight(gh: int, gw: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    w = torch.zeros(gh, gw, device=device, dtype=dtype)
    w[0, :] = w[-1, :] = w[:, 0] = w[:, -1] = 1.0
    return w.reshape(-1)


def _robust_surface(
    log_cells: torch.Tensor,
    design: torch.Tensor,
    start: torch.Tensor,
    grid: tuple[int, int],
    rounds: int = 3,
    prior: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit, then refit on the cells the fit explains; (surface (B, 3, N), tray weight (B, N)).

    A cubic cannot follow every light (a backlit tray's glow clipped at white, a lamp's
    fall-off): what the tray cells still differ from it by is added back on a coarse 6x8 grid.
    prior: (1, N), a factor on each cell's weight in every round (cells that say nothing).
    """
    weight = start[None].expand(log_cells.shape[0], -1)
    surface = _fit_surface(log_cells, weight, design)
    b, c, _ = log_cells.shape
    gh, gw = grid
    for k in range(rounds):
        res = (log_cells - surface).abs().amax(1)  # (B, N)
        # a cell is tray when its colour is close to the fit; the scale adapts to each frame
        scale = torch.quantile(res, 0.4, dim=1, keepdim=True).clamp_min(0.01)
        weight = (res < 2.5 * scale).to(log_cells.dtype) + 1e-4
        if prior is not None:
            weight = weight * prior
        surface = _fit_surface(log_cells, weight, design)
        if k == rounds - 1:
            # shrunk toward zero where a coarse cell holds few tray cells (items cover it)
            tray = (weight > 0.5).to(log_cells.dtype).reshape(b, 1, gh, gw)
            resid = (log_cells - surface).reshape(b, c, gh, gw) * tray
            coarse = F.adaptive_avg_pool2d(resid, (6, 8)) / (
                F.adaptive_avg_pool2d(tray, (6, 8)) + 0.1
            )
            fine = F.interpolate(coarse, size=(gh, gw), mode="bilinear", align_corners=False)
            surface = surface + fine.reshape(b, c, -1)
    return surface, weight


def estimate(img: torch.Tensor, texture: torch.Tensor | None = None) -> TrayModel:
    """The tray of (B, 3, H, W) frames in [0, 1], estimated from the frames themselves.

    texture: `texture_level(img)` when the caller has it already.
    """
    b, _, h, w = img.shape
    gh, gw = max(h // CELL, 2), max(w // CELL, 2)
    # cells of the image, then their log: a full-size log costs more than the whole fit
    cells = torch.log(F.adaptive_avg_pool2d(img, (gh, gw)) + DARK).reshape(b, 3, -1)
    design = _design(gh, gw, img.device, img.dtype)
    start = _border_weight(gh, gw, img.device, img.dtype)
    surface, weight = _robust_surface(cells, design, start, (gh, gw))
    log_colour = F.interpolate(
        surface.reshape(b, 3, gh, gw), size=(h, w), mode="bilinear", align_corners=True
    )
    # the tray's own texture level: a high quantile over the cells the fit called tray
    texture = texture if texture is not None else texture_level(img)
    tex_cells = F.adaptive_avg_pool2d(texture, (gh, gw)).reshape(b, -1)
    tray = weight > 0.5
    levels = []
    for i in range(b):
        vals = tex_cells[i][tray[i]]
        levels.append(torch.quantile(vals, 0.9) if vals.numel() else tex_cells[i].median())
    level = torch.stack(levels).view(b, 1, 1, 1).expand(b, 1, h, w)
    return TrayModel(log_colour.exp() - DARK, level, "estimate", log_colour)


def from_capture(img: torch.Tensor, capture: Capture) -> TrayModel:
    """The captured tray, re-lit to each frame of (B, 3, H, W) (exposure, colour, gradient)."""
    b, _, h, w = img.shape
    colour = capture.colour.to(img.device, img.dtype)[None]
    texture = capture.texture.to(img.device, img.dtype)[None]
    if colour.shape[2:] != (h, w):
        colour = F.interpolate(colour, size=(h, w), mode="bilinear", align_corners=False)
        texture = F.interpolate(texture, size=(h, w), mode="bilinear", align_corners=False)
    gh, gw = max(h // CELL, 2), max(w // CELL, 2)
    log_captured = torch.log(colour + DARK)
    ratio = torch.log(F.adaptive_avg_pool2d(img, (gh, gw)) + DARK) - F.adaptive_avg_pool2d(
        log_captured, (gh, gw)
    )
    cells = ratio.reshape(b, 3, -1)
    design = _design(gh, gw, img.device, img.dtype)
    # a channel clipped at white in the capture says only that the tray is at least that bright
    # there: those cells do not say how the light changed, and the frame may show that part of
    # the tray brighter still (or, a little less exposed, its grain the capture lost)
    clipped = colour >= CLIPPED  # (1, 3, H, W)
    unclipped = 1 - F.adaptive_avg_pool2d(clipped.any(1, keepdim=True).to(img.dtype), (gh, gw))
    prior = (unclipped.reshape(1, -1) > 0.5).to(img.dtype) + 1e-3
    start = prior[0]
    relight, _ = _robust_surface(cells, design, start, (gh, gw), prior=prior)
    relight = F.interpolate(
        relight.reshape(b, 3, gh, gw), size=(h, w), mode="bilinear", align_corners=True
    )
    log_colour = log_captured + relight
    if bool(clipped.any()):
        log_colour = torch.where(
            clipped, torch.maximum(log_colour, torch.log(img + DARK)), log_colour
        )
        # where the capture clipped white (every channel), its texture is unknown: take the
        # tray's usual level
        white = clipped.all(1, keepdim=True)
        seen = texture[~white]
        usual = torch.quantile(seen.float(), 0.9) if seen.numel() else texture.amax()
        texture = torch.where(white, texture.clamp_min(usual), texture)
    # a slightly moved tray or camera: the texture level is taken as the local maximum
    texture = F.max_pool2d(texture, 3, 1, 1).expand(b, 1, h, w)
    return TrayModel(log_colour.exp() - DARK, texture, "capture", log_colour)


def measure_capture(img: torch.Tensor) -> Capture:
    """An empty-tray capture from (F, 3, H, W) frames: colour, texture with frame noise.

    The colour is each pixel's darkest value over the frames: a glare spot or a reflection adds
    light to one frame, and averaging it in would make the tray look brighter there forever.
    """
    colour = img.amin(0) if img.shape[0] > 1 else img[0]
    texture = texture_level(img).amax(0)
    if img.shape[0] > 1:
        spread = (img - colour[None]).abs().amax(0).mean(0, keepdim=True)
        texture = torch.maximum(texture, spread)
    return Capture(colour, texture, int(img.shape[0]))
