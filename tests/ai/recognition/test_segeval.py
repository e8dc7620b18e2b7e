"""The segmentation evaluation's verdicts: what counts as split, merged, missed and spurious."""

from __future__ import annotations

import numpy as np

from fixtures.bakery import make_tray
from tools.recognition.segeval import compare, truth_labels


def _truth() -> np.ndarray:
    t = np.zeros((60, 80), np.int64)
    t[10:30, 10:30] = 1
    t[10:30, 30:50] = 2  # touches item 1
    t[40:55, 60:75] = 3
    return t


def test_one_region_per_item_is_a_perfect_frame():
    got = compare(_truth(), _truth())
    assert got["perfect"] and got["iou"] == [1.0, 1.0, 1.0]


def test_two_touching_items_in_one_region_are_merged():
    labels = _truth().copy()
    labels[labels == 2] = 1
    got = compare(_truth(), labels)
    assert got["merged"] == 1 and not got["perfect"]


def test_an_item_in_two_regions_is_split_and_a_tray_blob_is_spurious():
    labels = _truth().copy()
    labels[40:55, 68:75] = 4  # the right half of item 3 is its own region
    labels[0:5, 0:5] = 5  # a region on the tray
    got = compare(_truth(), labels)
    assert (got["split"], got["spurious"], got["merged"]) == (1, 1, 0)


def test_an_item_without_a_region_is_missed():
    labels = _truth().copy()
    labels[labels == 3] = 0
    got = compare(_truth(), labels)
    assert got["missed"] == 1 and not got["perfect"]


def test_truth_masks_follow_the_generated_boxes():
    tray = make_tray(606, 3, [], items=["CROISSANT", "CREAM-BUN"], n_frames=(2, 2))
    for f in range(2):
        t = truth_labels(tray, f, (240, 320))
        for k, box in enumerate(tray.boxes):
            ys, xs = np.nonzero(t == k + 1)
            x0, y0, x1, y1 = (v / 4 for v in box[f])
            assert abs(xs.min() - x0) <= 1.5 and abs(xs.max() + 1 - x1) <= 1.5
            assert abs(ys.min() - y0) <= 1.5 and abs(ys.max() + 1 - y1) <= 1.5
