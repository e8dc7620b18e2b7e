"""The colour of the counter's light, read off its tray: is it still the light of the references?

The white balance keeps the lamp's colour cast (`embed.white_balance`): reference photos and trays
are shot at the same counter, so both carry it, and dividing a tray's own colour out mixed up the
products on coloured trays. The price is that the matching trusts the lamp to stay the same. A
warmer bulb, or a camera whose white balance drifted, tints every item alike, and a sugar donut
can then read as a glazed one at full confidence: under a lamp 8 % redder and 14 % less blue than
the references', four sugar donuts on a red tray were billed as glazed donuts, AUTO.

The tray shows the light's colour: its chromaticity (log colour less its mean over the channels)
changes with the lamp's and not with exposure or gradients. Every reference photo records its
tray's (`tray_light`); a tray whose frame's light lies outside the range of the references'
lights (per channel, from the lowest to the highest of them) by more than LIGHT_SHIFT goes to
staff, naming the shift. References shot under several lights (a counter whose lamp varies)
widen the range, so trays under any of those lights pass.

Measured (`tools.recognition.evaluate`'s evaluation counter, 10 trays of each family against 3
photos of every product): under the references' own light the distance is at most 0.013 on the
red, white, backlit white, kraft and dark slate families, also with the exposure 25 % lower or
20 % higher; on the generator's original teal tray, whose every photo and tray draws its own
colour temperature (20 trays of the tests seed against 3 photos of 20 products), 0.040. Under a
lamp 8 % redder and 14 % less blue, the median per family is 0.08-0.13 (at most 0.17), under one
12 % less red and 10 % more blue 0.08-0.11 (a backlit tray, whose glow is partly the panel's own
light, the least). On the teal tray, whose references already span several lights, the medians
are 0.045 and 0.009: there only larger changes are caught.
"""

from __future__ import annotations

import torch

LIGHT_SHIFT = 0.05  # how far (log chromaticity) a frame's light may lie outside the references'


def tray_light(colour: torch.Tensor) -> torch.Tensor:
    """The light's colour per frame, (B, 3): the median chromaticity of the tray model's
    `colour` (B, 3, H, W), on every fourth pixel (the model is smooth). Plain ratios of the
    channels, so that an exposure changes nothing (the segmentation's log(x + DARK) would: 0.04
    on a red tray 20 % darker, whose blue is dim)."""
    sample = torch.log(colour[:, :, ::4, ::4].clamp_min(0.01))
    chroma = sample - sample.mean(1, keepdim=True)
    return chroma.flatten(2).median(2).values.float().cpu()


def light_range(references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The lowest and highest of the references' lights (R, 3; rows of NaN: not recorded), per
    channel; None when no reference recorded its light."""
    refs = references[~references.isnan().any(1)]
    if len(refs) == 0:
        return None
    return refs.amin(0), refs.amax(0)


def light_shift(frames: torch.Tensor, span: tuple[torch.Tensor, torch.Tensor]) -> float:
    """How far the frames' lights (F, 3) lie outside the references' range (`light_range`):
    the largest over frames."""
    lo, hi = span
    outside = torch.maximum(lo - frames, frames - hi).clamp_min(0)
    return float(outside.norm(dim=1).max()) if len(frames) else 0.0


def shift_reason(shift: float) -> str:
    """The reason a tray under another light goes to staff."""
    return (
        f"the light's colour differs from the reference photos' (tray colour shifted {shift:.3f},"
        f" at most {LIGHT_SHIFT}): the lamp or the camera's white balance changed; until the"
        " references are shot again under it, staff decide"
    )
