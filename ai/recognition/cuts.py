"""Keep a cut region whole or in pieces: whichever the store's products explain.

The segmentation cuts a region at two facing concave corners (`split.py`), which is where two
touching items meet, but also where a pretzel or a twist has its waist. Geometry cannot tell
them apart; the gallery can: a pretzel matches the pretzel's references whole, at its size,
while its halves match nothing at theirs. So both hypotheses are embedded and matched, and per
cut region:

- the pieces are kept when every piece matches some candidate at a size its references allow
  and either the whole does not (merged items measure about twice one item) or the pieces
  match better on average (top similarity over what that product typically scores);
- otherwise the region stays whole. Staying whole is the cautious side: a whole region that
  holds two items is too large for any one product, and the safety net sends the tray to staff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .pipeline import Raw

# per row: (how much its best candidate's score exceeds that product's typical score, the
# row's area over that product's reference area)
Fit = Callable[["Raw"], tuple[torch.Tensor, list[float]]]


def keep_pieces(
    fit_pieces: tuple[torch.Tensor, list[float]],
    fit_wholes: tuple[torch.Tensor, list[float]],
    members: Sequence[Sequence[int]],
    size_range: tuple[float, float],
) -> list[bool]:
    """Per cut region: True to keep its pieces, False to keep it whole."""
    lo, hi = size_range
    over_p, ratio_p = fit_pieces
    over_w, ratio_w = fit_wholes
    out = []
    for w, rows in enumerate(members):
        pieces_fit = all(lo <= ratio_p[i] <= hi for i in rows)
        whole_fits = lo <= ratio_w[w] <= hi
        better = float(over_p[list(rows)].mean()) > float(over_w[w])
        out.append(pieces_fit and (not whole_fits or better))
    return out


def settle(raw: Raw, fit: Fit | None, size_range: tuple[float, float]) -> Raw:
    """`raw` with each cut region either whole or in pieces (fit None: every one whole, as for
    a reference photo, which shows one item), and no alternatives left."""
    wholes = raw.wholes
    if wholes is None or not raw.members:
        return replace(raw, wholes=None, members=[])
    if fit is None:
        pieces = [False] * len(raw.members)
    else:
        pieces = keep_pieces(fit(raw), fit(wholes), raw.members, size_range)
    dropped = {i for rows, keep in zip(raw.members, pieces, strict=True) if not keep for i in rows}
    rows = torch.tensor([i for i in range(len(raw.areas)) if i not in dropped], dtype=torch.long)
    whole_rows = torch.tensor([w for w, keep in enumerate(pieces) if not keep], dtype=torch.long)

    def pick(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a[rows.to(a.device)], b[whole_rows.to(b.device)]])

    return replace(
        raw,
        frame=pick(raw.frame, wholes.frame),
        boxes=pick(raw.boxes, wholes.boxes),
        areas=pick(raw.areas, wholes.areas),
        embeddings=pick(raw.embeddings, wholes.embeddings),
        crops=pick(raw.crops, wholes.crops),
        scales=pick(raw.scales, wholes.scales),
        wholes=None,
        members=[],
    )
