from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.gcloud import Gcloud
from ops.settings import stack_config
from stacks.config import StackConfig
from tests.ops.fake_gcloud import FakeGcloud, fake_gcloud

PROJECT = "bakesight-ops-test"


@pytest.fixture()
def gcloud_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcloud]:
    with fake_gcloud(tmp_path, monkeypatch) as fake:
        yield fake


@pytest.fixture()
def config(monkeypatch: pytest.MonkeyPatch) -> StackConfig:
    for key in ("BAKESIGHT_ZONE", "BAKESIGHT_REGION", "BAKESIGHT_PREFIX", "BAKESIGHT_BUILD_REGION"):
        monkeypatch.delenv(key, raising=False)
    return stack_config(PROJECT)


@pytest.fixture()
def gcloud(config: StackConfig) -> Gcloud:
    return Gcloud(config.project_id, timeout_s=30)
