"""Cut regions that hold touching items apart at the concave corners where the items meet.

The distance-map watershed (`segment.py`) separates touching items only where they meet at a
neck: two round buns touching at a point. It cannot see a junction wider than one of the items
(a bun lying against a baguette's side, a roll tucked into a croissant's hollow): the distance map
then climbs without a saddle from one item into the other. What such a junction has is a pair of
sharp concave corners in the outline, one on each side, with a short straight cut between them
that stays inside the region. A single item seldom has that: a bun or a donut is convex; a
crescent's hollow is one wide arc whose chords run across the tray; a knot's bays are filled in
as holes before this step.

Two items that overlap broadly side by side (two loaves) make a region that is nearly convex:
it is left whole here, and recognition's size check sends it to staff.

Per region: the outline's concave corners are where a disk around the outline pixel is mostly
foreground (`fill`: 0.5 on a straight edge, less on a convex one, about 0.75 where two convex
items meet). Each pair of corners of one region whose chord lies inside the region is a
candidate cut; a cut is made when it leaves two pieces that are each large enough to be an
item, the cut is short next to the pieces (`neck`), and each piece is clearly more convex than
the region (`gain`); a region already nearly convex (`convex`) is never cut. The best cut per
region is made, then the search runs again on the pieces (three items in a row need two cuts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SplitParams:
    radius: int = 6  # the disk (segmentation pixels) the outline's fill is measured in
    corner: float = 0.7  # fill at or above this: a concave corner
    inside: float = 0.9  # share of the chord's points that must lie inside the region
    piece: float = 0.12  # each piece holds at least this share of the region
    neck: float = 1.5  # chord length / the smaller piece's equivalent diameter at most
    facing: float = 0.35  # cosine between a corner's inward normal and the chord, at least
    corners: int = 8  # the strongest corners per region that are paired
    convex: float = 0.88  # a region at least this convex (area / hull area) is one item
    gain: float = 0.06  # each piece must be this much more convex than the region
    rounds: int = 3  # cut, then look again in the pieces


def _disk(r: int, device: torch.device) -> torch.Tensor:
    span = torch.arange(-r, r + 1, device=device)
    ys, xs = torch.meshgrid(span, span, indexing="ij")
    k = ((ys * ys + xs * xs) <= r * r + r).float()
    return (k / k.sum()).view(1, 1, 2 * r + 1, 2 * r + 1)


def corners(
    labels: torch.Tensor, p: SplitParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The outline's concave corners: (M, 3) long (frame, y, x), (M,) their fill and (M, 2)
    their inward normals (y, x; unit length: the direction the foreground lies in)."""
    # a 3x3 majority first: notches of a pixel or two in a rough outline are no junctions
    fg = (F.avg_pool2d((labels > 0).float(), 3, 1, 1) > 0.5).float()
    fill = F.conv2d(F.pad(fg, (p.radius,) * 4), _disk(p.radius, labels.device))
    outline = (fg > 0) & (-F.max_pool2d(-fg, 3, 1, 1) == 0)  # foreground next to the tray
    score = torch.where(outline & (fill >= p.corner), fill, torch.zeros_like(fill))
    peak = (score > 0) & (score >= F.max_pool2d(score, 5, 1, 2))
    idx = torch.nonzero(peak[:, 0])
    f, y, x = idx[:, 0], idx[:, 1], idx[:, 2]
    pad = F.pad(fill, (1, 1, 1, 1), mode="replicate")
    gy = pad[f, 0, y + 2, x + 1] - pad[f, 0, y, x + 1]
    gx = pad[f, 0, y + 1, x + 2] - pad[f, 0, y + 1, x]
    normal = torch.stack([gy, gx], 1)
    normal = normal / normal.norm(dim=1, keepdim=True).clamp_min(1e-6)
    return idx, score[f, 0, y, x], normal


def _corners_of(
    labels: torch.Tensor, ids: list[int], p: SplitParams
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`corners`, of the regions `ids` only: found in a crop around each (what decides a corner
    lies within `p.radius` + 2 pixels of it), which costs a fraction of the whole frame's."""
    margin = p.radius + 4
    _, _, height, width = labels.shape
    found = []
    for k in ids:
        f, _, y, x = torch.nonzero(labels == k, as_tuple=True)
        fi = int(f[0])
        y0, x0 = max(0, int(y.min()) - margin), max(0, int(x.min()) - margin)
        y1, x1 = min(height, int(y.max()) + 1 + margin), min(width, int(x.max()) + 1 + margin)
        crop = labels[fi : fi + 1, :, y0:y1, x0:x1]
        idx, fill, normal = corners(crop, p)
        own = crop[0, 0, idx[:, 1], idx[:, 2]] == k
        idx = idx[own] + torch.tensor([fi, y0, x0], device=idx.device)
        found.append((idx, fill[own], normal[own]))
    if not found:
        return torch.zeros(0, 3, dtype=torch.long), torch.zeros(0), torch.zeros(0, 2)
    return tuple(torch.cat(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def _components(mask: torch.Tensor) -> torch.Tensor:
    """4-connected components of a small 0/1 (H, W) mask: labels 1..n, 0 outside.

    Hook and compress: every pixel's label points at the smallest label next to it, and the
    pointers are followed to their end, so labels spread in a few rounds (the logarithm of a
    component's size, not its length; a one-pixel step per round took 5 ms a crop)."""
    h, w = mask.shape
    n = h * w
    inside = mask.reshape(-1).bool()
    outside = torch.full((n,), n, dtype=torch.long, device=mask.device)
    lab = torch.where(inside, torch.arange(n, device=mask.device), outside)
    while True:
        p = F.pad(lab.view(h, w), (1, 1, 1, 1), value=n)
        nb = torch.minimum(
            torch.minimum(p[1:-1, :-2], p[1:-1, 2:]), torch.minimum(p[:-2, 1:-1], p[2:, 1:-1])
        ).reshape(-1)
        low = torch.minimum(lab, nb)
        parent = torch.arange(n + 1, device=mask.device)
        parent = parent.scatter_reduce(0, lab[inside], low[inside], "amin")
        while True:
            up = parent[parent]
            if torch.equal(up, parent):
                break
            parent = up
        new = parent[lab]
        if torch.equal(new, lab):
            break
        lab = new
    out = torch.zeros(n, dtype=torch.long, device=mask.device)
    out[inside] = torch.unique(lab[inside], return_inverse=True)[1] + 1
    return out.view(h, w)


def convexity(mask: torch.Tensor, directions: int = 16) -> float:
    """Area over the area of the convex hull (approximated by `directions` slabs) of a (H, W)
    bool mask: 1.0 for a convex shape, less the deeper its bays."""
    return float(hull_convexity(mask.long().view(1, 1, *mask.shape), directions)[1])


def _cut(region: torch.Tensor, a: tuple[int, int], b: tuple[int, int]) -> torch.Tensor | None:
    """The region (H, W bool crop) cut along the chord a-b: labels 1 and 2 (0 outside), or
    None when the cut does not leave exactly two sizeable pieces."""
    h, w = region.shape
    ys = torch.arange(h, device=region.device).view(h, 1).float()
    xs = torch.arange(w, device=region.device).view(1, w).float()
    (ay, ax), (by, bx) = a, b
    dy, dx = by - ay, bx - ax
    length2 = max(dy * dy + dx * dx, 1)
    t = (((ys - ay) * dy + (xs - ax) * dx) / length2).clamp(0, 1)
    d2 = (ys - (ay + t * dy)) ** 2 + (xs - (ax + t * dx)) ** 2
    line = d2 <= 0.8  # thick enough that no 4-connected path crosses it
    comp = _components(region & ~line)
    sizes = torch.bincount(comp.reshape(-1))
    sizes[0] = 0
    if int((sizes > 0).sum()) < 2:
        return None
    top = sizes.argsort(descending=True)[:2]
    out = torch.zeros_like(comp)
    out[comp == top[0]] = 1
    out[comp == top[1]] = 2
    # the line and any crumbs join the piece next to them
    for _ in range(4):
        p = F.pad(out, (1, 1, 1, 1))
        nb = torch.maximum(
            torch.maximum(p[1:-1, :-2], p[1:-1, 2:]), torch.maximum(p[:-2, 1:-1], p[2:, 1:-1])
        )
        out = torch.where(region & (out == 0), nb, out)
    return out


def hull_convexity(labels: torch.Tensor, directions: int = 16) -> torch.Tensor:
    """(max id + 1,) per region id of `labels` ((B, 1, H, W) long): its area over the area of
    the polygon its `directions` slabs bound (its convex hull, nearly), all regions at once.

    The polygon's area is computed from its corners, where neighbouring slabs' edges meet, not
    by counting the pixels inside it (which took a millisecond a region)."""
    n = int(labels.max()) + 1
    dev = labels.device
    f, _, y, x = torch.nonzero(labels > 0, as_tuple=True)
    if len(f) == 0:
        return torch.ones(n)
    ids = labels[f, 0, y, x]
    ang = torch.arange(directions, device=dev) * (math.pi / directions)
    proj = torch.stack([y, x], 1).float() @ torch.stack([torch.cos(ang), torch.sin(ang)], 1).T
    index = ids.view(-1, 1).expand(-1, directions)
    hi = torch.full((n, directions), -1e9, device=dev).scatter_reduce(0, index, proj, "amax")
    lo = torch.full((n, directions), 1e9, device=dev).scatter_reduce(0, index, proj, "amin")
    # support lines all round: h_k = max of p.u_k, at angles 0..2pi (pixels reach 0.5 beyond)
    h = torch.cat([hi + 0.5, -(lo - 0.5)], 1)
    a = torch.cat([ang, ang + math.pi])
    b = torch.roll(a, -1)
    hb = torch.roll(h, -1, dims=1)
    s = math.sin(math.pi / directions)
    vy = (h * torch.sin(b) - hb * torch.sin(a)) / s
    vx = (hb * torch.cos(a) - h * torch.cos(b)) / s
    hull = 0.5 * (vy * torch.roll(vx, -1, 1) - torch.roll(vy, -1, 1) * vx).sum(1).abs()
    area = torch.bincount(ids, minlength=n).float()
    ratio = (area / hull.clamp_min(1.0)).clamp(max=1.0)
    return torch.where(area > 0, ratio, torch.ones_like(ratio)).cpu()


def split_touching(labels: torch.Tensor, p: SplitParams | None = None) -> torch.Tensor:
    """Cut the regions of `labels` ((B, 1, H, W) long, unique ids) that hold touching items.

    Most regions are single convex items: every region's convexity, computed at once, leaves
    them alone before any corner is searched, which keeps the cost of this step to the few
    regions that may hold two items. The corners depend only on the
    foreground, which cuts do not change, so they are found once; each later round looks only
    at the pieces of the round before."""
    p = p or SplitParams()
    labels = labels.clone()
    rough = hull_convexity(labels)
    todo = [k for k in range(1, len(rough)) if float(rough[k]) < p.convex]
    if not todo:
        return labels
    idx, fill, normal = _corners_of(labels, todo, p)
    if len(idx) < 2:
        return labels
    next_id = int(labels.max()) + 1
    for _ in range(p.rounds):
        owner = labels[idx[:, 0], 0, idx[:, 1], idx[:, 2]]
        pieces_made: list[int] = []
        for k in todo:
            sel = torch.nonzero(owner == k).squeeze(1)
            if len(sel) < 2:
                continue
            sel = sel[fill[sel].argsort(descending=True)[: p.corners]]
            best = _best_cut(labels, k, idx[sel], normal[sel], p)
            if best is None:
                continue
            f, y0, x0, pieces = best
            h, w = pieces.shape
            view = labels[f, 0, y0 : y0 + h, x0 : x0 + w]
            view[pieces == 2] = next_id
            pieces_made += [k, next_id]
            next_id += 1
        if not pieces_made:
            break
        todo = pieces_made
    return labels


def _best_cut(
    labels: torch.Tensor, k: int, pts: torch.Tensor, normal: torch.Tensor, p: SplitParams
) -> tuple[int, int, int, torch.Tensor] | None:
    """The best valid cut of region k between two of its corners `pts` ((n, 3) frame, y, x)
    that face each other (`normal`: their inward normals): (frame, crop y0, crop x0, crop
    pieces 1/2), or None."""
    f = int(pts[0, 0])
    region_full = labels[f, 0] == k
    ys, xs = torch.nonzero(region_full, as_tuple=True)
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    region = region_full[y0:y1, x0:x1]
    area = int(region.sum())
    whole = convexity(region)
    if whole >= p.convex:
        return None
    pairs = []
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            a = (int(pts[i, 1]) - y0, int(pts[i, 2]) - x0)
            b = (int(pts[j, 1]) - y0, int(pts[j, 2]) - x0)
            length = math.hypot(a[0] - b[0], a[1] - b[1])
            if length < 2:
                continue
            u = ((b[0] - a[0]) / length, (b[1] - a[1]) / length)
            ni, nj = normal[i].tolist(), normal[j].tolist()
            if ni[0] * u[0] + ni[1] * u[1] < p.facing or -(nj[0] * u[0] + nj[1] * u[1]) < p.facing:
                continue  # two corners along one outline, not across a junction
            m = max(2, math.ceil(length * 2))
            t = torch.linspace(0, 1, m)
            py = (a[0] + t * (b[0] - a[0])).round().long()
            px = (a[1] + t * (b[1] - a[1])).round().long()
            if float(region[py, px].float().mean()) < p.inside:
                continue
            pairs.append((length, a, b))
    best = None
    for length, a, b in sorted(pairs)[:10]:
        pieces = _cut(region, a, b)
        if pieces is None:
            continue
        small = min(int((pieces == 1).sum()), int((pieces == 2).sum()))
        if small < p.piece * area:
            continue
        ratio = length / (2 * math.sqrt(small / math.pi))
        if ratio > p.neck or (best is not None and ratio >= best[0]):
            continue
        if min(convexity(pieces == 1), convexity(pieces == 2)) >= whole + p.gain:
            best = (ratio, pieces)
    if best is None:
        return None
    return f, y0, x0, best[1]
