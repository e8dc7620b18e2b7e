"""Shared fixtures: a small gallery registered through the public API from generated photos."""

from __future__ import annotations

import pytest
import torch

from ai.recognition import Pipeline
from ai.recognition.bakery import SMALL_PRODUCTS, reference_images


@pytest.fixture(scope="session")
def small_pipeline() -> Pipeline:
    """Seven products (look-alikes included), five reference photos each."""
    torch.manual_seed(0)
    p = Pipeline.load("cpu", None)
    for sku in SMALL_PRODUCTS:
        p.register(sku, reference_images(sku, 5))
    return p
