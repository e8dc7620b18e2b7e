"""Keep each cut the segmentation made between touching regions, or undo it: whichever the
store's products explain.

The segmentation separates touching regions where its distance map has a neck (the watershed)
and at two facing concave corners (`split.py`). That is where two touching items meet, but also
a pretzel's waist, the strands of a twist, or a knot's loops. Geometry cannot tell them apart;
the gallery can: a pretzel matches the pretzel's references whole, at its size, while its halves
match nothing at theirs. So besides the regions themselves (the pieces), `segment` lists groups
of touching regions that may be one item (each touching pair, and each blob of three or more),
each group is embedded whole, and both are matched. A group is merged into one item when:

- the whole matches some candidate at a size its references allow, and
- either some piece does not (half a pretzel is too small for anything, or matches badly), or
  the whole matches better than its pieces do on average (top similarity over what that
  product typically scores).

Groups share pieces (a blob and the pairs inside it), so they are taken largest first, then by
how much better the whole matches, and a group is merged only when none of its pieces is merged
already. Everything not merged stays in pieces; a piece no product explains at its size still
sends the tray to staff through the size check, so neither choice can bill a guess.

A reference photo shows one item: there each blob is kept whole (no candidates to ask).
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

# how much better (top similarity over typical) a whole must match than its pieces on average
# when both fit: two small touching items can make a region the size of a larger product
MARGIN = 0.03


def merges(
    fit_pieces: tuple[torch.Tensor, list[float]],
    fit_wholes: tuple[torch.Tensor, list[float]],
    members: Sequence[Sequence[int]],
    size_range: tuple[float, float],
) -> list[int]:
    """The groups (indices into `members`) to merge into one item each, sharing no piece."""
    lo, hi = size_range
    over_p, ratio_p = fit_pieces
    over_w, ratio_w = fit_wholes
    chosen = []
    for w, rows in enumerate(members):
        if not lo <= ratio_w[w] <= hi:
            continue
        pieces_fit = all(lo <= ratio_p[i] <= hi for i in rows)
        gain = float(over_w[w]) - float(over_p[list(rows)].mean())
        if not pieces_fit or gain > MARGIN:
            chosen.append((-len(rows), -gain, w))
    return _disjoint([w for *_, w in sorted(chosen)], members)


def _disjoint(order: list[int], members: Sequence[Sequence[int]]) -> list[int]:
    taken: set[int] = set()
    out = []
    for w in order:
        if taken.isdisjoint(members[w]):
            out.append(w)
            taken.update(members[w])
    return out


def settle(raw: Raw, fit: Fit | None, size_range: tuple[float, float]) -> Raw:
    """`raw` with each group of touching regions either merged or left in pieces (fit None:
    every blob whole, as for a reference photo), and no alternatives left."""
    wholes = raw.wholes
    if wholes is None or not raw.members:
        return replace(raw, wholes=None, members=[])
    if fit is None:
        by_size = sorted(range(len(raw.members)), key=lambda w: -len(raw.members[w]))
        merged = _disjoint(by_size, raw.members)
    else:
        merged = merges(fit(raw), fit(wholes), raw.members, size_range)
    dropped = {i for w in merged for i in raw.members[w]}
    rows = torch.tensor([i for i in range(len(raw.areas)) if i not in dropped], dtype=torch.long)
    whole_rows = torch.tensor(sorted(merged), dtype=torch.long)

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
