"""Shared fixtures: a small gallery registered through the public API from generated photos."""

from __future__ import annotations

import pytest
import torch

from ai.recognition import Pipeline
from tools.recognition.bakery import SMALL_PRODUCTS, reference_images

# One intra-op thread: the ops are small, and two OpenMP threads on a CI runner whose two cores are
# also busy (the database server, other suites) slow down many-fold while spinning.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_pipeline() -> Pipeline:
    """Seven products (look-alikes included), five reference photos each."""
    torch.manual_seed(0)
    p = Pipeline.load("cpu", None)
    for sku in SMALL_PRODUCTS:
        p.register(sku, reference_images(sku, 5))
    return p
