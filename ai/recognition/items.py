"""The items of one tray, across its frames and side by side.

A tray is seen in 1-3 frames from slightly different viewpoints: `correspond` groups the regions
that are one physical item, `spreads` measures how much an item's size differs between them.
Beside each other in one frame, items of one product share the light and the baking:
`closer_to_a_neighbour` finds an item that resembles a differently labelled neighbour more than
its own label's references. `frame_box_text` says where a region is, for reasons staff read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .pipeline import Raw


def closer_to_a_neighbour(
    raw: Raw, single: torch.Tensor, best: torch.Tensor, labels: Sequence[str | None]
) -> tuple[float, str]:
    """How much closer some item comes to an item beside it in the same frame that got another
    label than to its own label's references (the largest excess; < 0: none does), and the
    reason to name when one does ("" otherwise).

    Items of one product on one tray share the light, the camera and the baking: they look
    more alike than any reference shot another day. An item that resembles a neighbour labelled
    otherwise more than its own label's references is one of the two labels' doubtful cases
    (a poppy bagel among poppy bagels read as a chocolate-chip muffin), whatever its score.
    """
    n = len(labels)
    if n < 2 or single.shape[1] == 0:
        return -1.0, ""
    sims = (raw.embeddings @ raw.embeddings.T).cpu()
    own = single[torch.arange(n), best]  # each region's own score for its fused label
    other = (raw.frame.view(-1, 1) == raw.frame.view(1, -1)) & (
        best.view(-1, 1) != best.view(1, -1)
    )
    peer = torch.where(other, sims, torch.full_like(sims, -2.0)).max(1)
    excess = peer.values - own
    known = torch.tensor([label is not None for label in labels])
    excess = torch.where(known, excess, torch.full_like(excess, -2.0))
    i = int(excess.argmax())
    worst = float(excess[i])
    if worst <= 0:
        return worst, ""
    j = int(peer.indices[i])
    sh, sw = raw.seg_size
    return worst, (
        f"an item labelled {labels[i]} looks more like the {labels[j] or 'unknown item'} beside"
        f" it than like {labels[i]}'s references (frame {int(raw.frame[i])},"
        f" {frame_box_text(raw.boxes, i, sw, sh)})"
    )


def spreads(areas: torch.Tensor, groups: list[list[int]], n_frames: int) -> list[float]:
    """Per item seen in every frame: its largest area over its smallest (1.0: one frame)."""
    return [
        float(areas[g].max() / areas[g].min().clamp_min(1e-9)) for g in groups if len(g) == n_frames
    ]


def frame_box_text(boxes: torch.Tensor | None, i: int, sw: int, sh: int) -> str:
    """A region's box as a share of the frame, for a reason staff can read."""
    if boxes is None:
        return "somewhere"
    x0, y0, x1, y1 = boxes[i].tolist()
    return f"x {x0 / sw:.2f}-{x1 / sw:.2f}, y {y0 / sh:.2f}-{y1 / sh:.2f} of the frame"


def correspond(
    frame: torch.Tensor,
    boxes: torch.Tensor,
    areas: torch.Tensor,
    n_frames: int,
    width: int,
    max_dist: float = 0.07,
) -> list[list[int]]:
    """Group the regions that are the same physical item in the frames (frame 0 as anchor).

    The viewpoints differ slightly: after removing the median shift, each region of frame f is
    paired with the nearest unpaired region of frame 0 (closest pairs first) when the centres
    are within max_dist of the frame width and the areas within a factor 1.6.
    """
    n = int(frame.numel())
    if n == 0:
        return []
    c = (boxes[:, :2] + boxes[:, 2:]).float() / 2
    anchor = [i for i in range(n) if int(frame[i]) == 0]
    groups = {i: [i] for i in anchor}
    rest: list[list[int]] = []
    for f in range(1, n_frames):
        other = [j for j in range(n) if int(frame[j]) == f]
        if not anchor or not other:
            rest += [[j] for j in other]
            continue
        a, b = c[anchor], c[other]
        d0 = torch.cdist(a, b)
        shift = (b[d0.argmin(1)] - a).median(0).values
        d = torch.cdist(a + shift, b)
        used_a: set[int] = set()
        used_b: set[int] = set()
        for flat in torch.argsort(d.reshape(-1)).tolist():
            ia, ib = divmod(flat, len(other))
            if float(d[ia, ib]) > max_dist * width:
                break
            if ia in used_a or ib in used_b:
                continue
            r = float(areas[other[ib]] / areas[anchor[ia]].clamp_min(1e-9))
            if 1 / 1.6 <= r <= 1.6:
                used_a.add(ia)
                used_b.add(ib)
                groups[anchor[ia]].append(other[ib])
        rest += [[other[j]] for j in range(len(other)) if j not in used_b]
    return list(groups.values()) + rest


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
