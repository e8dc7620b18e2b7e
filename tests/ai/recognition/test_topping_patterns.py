"""Products of one colour told apart by the structure of their topping (a slit, cracks)."""

from __future__ import annotations

import math

import torch

from ai.recognition.embed import CROP_SIZE, ColourTextureEmbedder


def _bun(topping: str, seed: int) -> torch.Tensor:
    """A round bun's crop (4, S, S) whose pale topping covers 6 % of its crust: long slits side
    by side (a cream bun's cut), or short cracks turned every way (a scone's)."""
    g = torch.Generator().manual_seed(seed)
    s = CROP_SIZE
    ys, xs = torch.meshgrid(torch.arange(s).float(), torch.arange(s).float(), indexing="ij")
    r = 30 + float(torch.rand(1, generator=g)) * 4
    mask = (((xs - s / 2) ** 2 + (ys - s / 2) ** 2) < r * r).float()
    top = torch.zeros(s, s)
    turn = float(torch.rand(1, generator=g)) * math.pi
    while float((top * mask).sum()) < 0.06 * float(mask.sum()):
        cx, cy = (torch.rand(2, generator=g) * 1.4 * r - 0.7 * r + s / 2).tolist()
        a = turn if topping == "slits" else float(torch.rand(1, generator=g)) * math.pi
        length = 24 if topping == "slits" else 5
        u = (xs - cx) * math.cos(a) + (ys - cy) * math.sin(a)
        v = -(xs - cx) * math.sin(a) + (ys - cy) * math.cos(a)
        top = torch.maximum(top, ((u.abs() < length / 2) & (v.abs() < 1.2)).float())
    crust = torch.tensor([0.78, 0.60, 0.36])[:, None, None]
    pale = torch.tensor([0.93, 0.86, 0.62])[:, None, None]
    rgb = crust * (1 - top) + pale * top + 0.01 * torch.randn(3, s, s, generator=g)
    tray = torch.tensor([0.35, 0.35, 0.38])[:, None, None]
    rgb = rgb * mask + tray * (1 - mask)
    return torch.cat([rgb.clamp(0, 1), mask[None]], 0)


def _nearest_right(e: ColourTextureEmbedder) -> float:
    """Share of buns whose nearest other bun has the same topping."""
    kinds = ("slits", "cracks")
    crops = torch.stack([_bun(kind, k) for kind in kinds for k in range(8)])
    labels = [kind for kind in kinds for _ in range(8)]
    emb = e(crops, torch.full((len(crops),), 0.12))
    sims = emb @ emb.T
    sims.fill_diagonal_(-2.0)
    nearest = sims.argmax(1).tolist()
    return sum(labels[i] == labels[j] for i, j in enumerate(nearest)) / len(labels)


def test_slits_and_cracks_of_the_same_colour_and_area_are_told_apart():
    assert _nearest_right(ColourTextureEmbedder()) == 1.0


def test_the_topping_pattern_does_not_change_when_the_item_turns():
    e = ColourTextureEmbedder()
    crop = _bun("slits", 3)
    turned = torch.rot90(crop, 1, (1, 2))
    a, b = e.describe(torch.stack([crop, turned]), torch.full((2,), 0.12))
    assert torch.allclose(a, b, atol=1e-5)
