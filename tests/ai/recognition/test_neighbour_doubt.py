"""An item that looks more like a differently labelled item beside it than like its own label's
references is a doubtful label: the tray goes to staff, and the reason names both products."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ai.recognition import pipeline
from ai.recognition.items import closer_to_a_neighbour
from ai.recognition.pipeline import Raw
from fixtures.bakery import make_tray
from tools.recognition.bakery import SMALL_PRODUCTS


def _raw(embeddings: torch.Tensor, frames: list[int]) -> Raw:
    n = len(frames)
    boxes = torch.tensor([[10 + 40 * i, 10, 40 + 40 * i, 40] for i in range(n)])
    return Raw(
        frame=torch.tensor(frames),
        boxes=boxes,
        areas=torch.full((n,), 0.01),
        embeddings=F.normalize(embeddings, dim=1),
        crops=torch.zeros(n, 4, 8, 8),
        scales=torch.ones(n),
        seg_size=(240, 320),
        timings={},
    )


BAGEL = torch.tensor([1.0, 0.0, 0.0])
MUFFIN = torch.tensor([0.0, 1.0, 0.0])
SKUS = ["POPPY-BAGEL", "MUFFIN-CHOCOCHIP"]


def test_a_bagel_read_as_a_muffin_beside_its_twins_is_doubted() -> None:
    # three bagels on a tray; the third scores best for the muffin (0.89), yet it is as alike
    # to the bagels beside it as they are to each other
    raw = _raw(torch.stack([BAGEL, BAGEL + 0.02 * MUFFIN, BAGEL + 0.05 * MUFFIN]), [0, 0, 0])
    single = torch.tensor([[0.95, 0.70], [0.94, 0.71], [0.80, 0.89]])
    best = torch.tensor([0, 0, 1])
    labels = [SKUS[int(j)] for j in best]

    excess, reason = closer_to_a_neighbour(raw, single, best, labels)

    assert excess > 0
    assert "MUFFIN-CHOCOCHIP looks more like the POPPY-BAGEL beside it" in reason
    assert "frame 0" in reason


def test_different_products_side_by_side_raise_no_doubt() -> None:
    raw = _raw(torch.stack([BAGEL, BAGEL, MUFFIN]), [0, 0, 0])
    single = torch.tensor([[0.95, 0.30], [0.95, 0.30], [0.30, 0.93]])
    best = torch.tensor([0, 0, 1])

    excess, reason = closer_to_a_neighbour(raw, single, best, [SKUS[int(j)] for j in best])

    assert excess < 0 and reason == ""


def test_only_items_in_the_same_frame_are_compared() -> None:
    # the same item seen in two frames is one item, not a neighbour
    raw = _raw(torch.stack([BAGEL, BAGEL + 0.05 * MUFFIN]), [0, 1])
    single = torch.tensor([[0.95, 0.70], [0.80, 0.89]])
    best = torch.tensor([0, 1])

    _, reason = closer_to_a_neighbour(raw, single, best, [SKUS[int(j)] for j in best])

    assert reason == ""


def test_the_pipeline_sends_such_a_tray_to_staff_with_that_reason(small_pipeline, monkeypatch):
    items = ["CREAM-BUN", "CHEESE-BALL", "BAGUETTE"]
    tray = make_tray(606, 60, [], items=items, n_frames=(1, 1), touch_p=0.0)
    assert small_pipeline.recognize(tray.frames(), SMALL_PRODUCTS)["decision"] == "AUTO"
    doubt = "an item labelled CHEESE-BALL looks more like the CREAM-BUN beside it"
    monkeypatch.setattr(pipeline, "closer_to_a_neighbour", lambda *args: (0.02, doubt))

    answer = small_pipeline.recognize(tray.frames(), SMALL_PRODUCTS)

    assert answer["decision"] == "REVIEW" and answer["reason"] == doubt
