"""Touching items that meet along a wide junction come apart; one item is never cut in two."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from PIL import Image, ImageDraw

from ai.recognition.cuts import merges
from ai.recognition.segment import SegmentParams, segment
from ai.recognition.split import _components, convexity
from fixtures.bakery import TRAY_RGB
from tests.ai.recognition.frames import seg_input

SIZE = (0.36, 1.43)


def _bun_against_baguette() -> Image.Image:
    """A round bun lying against a baguette's side: the junction is wider than the baguette, so
    the distance map climbs from one into the other without a saddle; the outline has a sharp
    concave corner on each side of it."""
    im = Image.new("RGB", (1280, 960), TRAY_RGB)
    d = ImageDraw.Draw(im)
    d.ellipse([300, 400, 800, 480], fill=(200, 150, 90))
    d.ellipse([440, 440, 660, 660], fill=(215, 190, 150))
    return im


def test_a_bun_lying_against_a_baguette_is_cut_where_they_meet():
    r = segment(seg_input([_bun_against_baguette()]))
    assert len(r.areas) == 2
    baguette, bun = sorted(r.boxes.tolist(), key=lambda b: b[1])
    # at segmentation scale (1/4): the baguette spans x 75-200, y 100-120; the bun x 110-165,
    # y 110-165, less what lies under the baguette
    assert abs(baguette[0] - 75) <= 3 and abs(baguette[2] - 200) <= 3 and baguette[3] <= 124
    assert abs(bun[0] - 110) <= 3 and abs(bun[2] - 165) <= 3 and abs(bun[3] - 165) <= 3
    assert bun[1] >= 116
    # the two pieces are offered whole too, for recognition to choose
    assert r.members == [[0, 1]]


def test_without_the_cut_the_distance_map_alone_leaves_them_merged():
    r = segment(seg_input([_bun_against_baguette()]), replace(SegmentParams(), split=None))
    assert len(r.areas) == 1


def test_convex_items_with_rough_outlines_are_never_cut():
    im = Image.new("RGB", (1280, 960), TRAY_RGB)
    d = ImageDraw.Draw(im)
    rng = np.random.default_rng(4)
    for cx, cy, rx, ry in [(300, 300, 130, 90), (800, 400, 70, 70), (500, 700, 200, 60)]:
        t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
        jitter = 1 + 0.04 * rng.standard_normal(len(t))
        pts = [
            (cx + rx * j * np.cos(a), cy + ry * j * np.sin(a))
            for a, j in zip(t, jitter, strict=True)
        ]
        d.polygon(pts, fill=(200, 150, 90))
    r = segment(seg_input([im]))
    assert len(r.areas) == 3
    assert not r.members


def test_touching_regions_are_merged_only_when_one_product_explains_them_whole():
    over_pieces = torch.tensor([0.02, 0.01])
    # two items merged: the whole is twice any product's size, the pieces fit
    assert [] == merges((over_pieces, [1.0, 0.9]), (torch.tensor([0.0]), [2.1]), [[0, 1]], SIZE)
    # a pretzel's waist: the whole matches its product at its size and better than its halves
    halves = (torch.tensor([-0.08, -0.06]), [0.5, 0.5])
    assert [0] == merges(halves, (torch.tensor([0.01]), [1.0]), [[0, 1]], SIZE)
    # half of it too small for any product: merged even though the whole matches less well
    assert [0] == merges(
        (torch.tensor([0.05, 0.04]), [1.0, 0.2]), (torch.tensor([0.0]), [1.1]), [[0, 1]], SIZE
    )
    # neither the whole nor one piece fits: left in pieces, for the size check to send to staff
    assert [] == merges((over_pieces, [1.0, 0.2]), (torch.tensor([-0.1]), [2.1]), [[0, 1]], SIZE)


def test_a_blob_that_is_one_item_wins_over_the_pairs_inside_it():
    pieces = (torch.tensor([-0.1, -0.1, -0.1]), [0.3, 0.3, 0.3])  # a twist cut in three
    wholes = (torch.tensor([0.0, -0.02, 0.02]), [0.65, 0.66, 1.0])  # pair, pair, blob
    assert [2] == merges(pieces, wholes, [[0, 1], [1, 2], [0, 1, 2]], SIZE)


def test_of_two_pairs_sharing_a_piece_the_better_match_is_merged_and_the_rest_stays_apart():
    # a pretzel cut at its waist (rows 0, 1) with a bun (row 2) touching one half
    pieces = (torch.tensor([-0.1, -0.1, 0.03]), [0.5, 0.5, 1.0])
    wholes = (torch.tensor([0.02, -0.05, -0.2]), [1.0, 1.4, 1.9])  # (0,1), (1,2), blob
    assert [0] == merges(pieces, wholes, [[0, 1], [1, 2], [0, 1, 2]], SIZE)


def test_convexity_reads_a_disc_as_convex_and_an_l_as_its_share_of_the_hull():
    ys, xs = torch.meshgrid(torch.arange(80), torch.arange(80), indexing="ij")
    disc = (ys - 40) ** 2 + (xs - 40) ** 2 <= 30**2
    assert convexity(disc) >= 0.95
    ell = torch.zeros(80, 80, dtype=torch.bool)
    ell[10:70, 10:30] = True  # 60 x 20
    ell[50:70, 10:70] = True  # 20 x 60: the L covers 2000; its hull, the 60 x 60 square less
    # the 40 x 40 triangle beyond the line between the two inner ends, 2800
    assert abs(convexity(ell) - 2000 / 2800) <= 0.03


def test_a_u_shaped_region_is_one_component_and_two_blobs_are_two():
    u = torch.zeros(40, 40, dtype=torch.bool)
    u[5:35, 5:10] = u[5:35, 30:35] = u[30:35, 5:35] = True
    assert int(_components(u).max()) == 1
    blobs = torch.zeros(40, 40, dtype=torch.bool)
    blobs[2:10, 2:10] = blobs[20:38, 25:38] = True
    labels = _components(blobs)
    assert int(labels.max()) == 2 and int((labels > 0).sum()) == int(blobs.sum())
