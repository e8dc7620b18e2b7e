"""`nox -s cost`: the estimate follows the stack's settings and the committed price table."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ops.__main__ import main
from ops.cost import PRICES, PriceMissing, estimate, render, running_hours_per_day
from stacks.config import OpeningHours, StackConfig


def test_the_default_two_weeks_match_the_reviewed_estimate(config: StackConfig) -> None:
    est = estimate(config)

    assert running_hours_per_day(config) == 14
    # The review: about $145 with the 08:00-22:00 schedule, about $206 for the VM alone without.
    assert 135 <= est.total <= 150
    assert 200 <= est.vm_always_on <= 210
    items = [line.item for line in est.lines]
    assert items[:2] == ["VM n1-standard-4", "GPU nvidia-tesla-t4"]
    assert {"Cloud SQL db-g1-small", "Cloud NAT address"} <= set(items)


def test_the_schedule_is_what_the_gpu_is_billed_for(config: StackConfig) -> None:
    short = dataclasses.replace(config, opening_hours=OpeningHours("10:00", "16:00", "Asia/Seoul"))
    overnight = dataclasses.replace(config, opening_hours=OpeningHours("22:00", "02:00", "UTC"))

    gpu = {line.item: line.cost for line in estimate(short).lines}["GPU nvidia-tesla-t4"]

    assert gpu == pytest.approx(0.35 * 6 * 14)
    assert running_hours_per_day(overnight) == 4
    assert estimate(short).total < estimate(config).total


def test_a_setting_without_a_price_is_an_error_not_zero(config: StackConfig) -> None:
    bigger = dataclasses.replace(config, machine_type="n1-standard-8")

    with pytest.raises(PriceMissing, match="machine:n1-standard-8"):
        estimate(bigger)


def test_the_table_names_its_source_and_date() -> None:
    table = json.loads(PRICES.read_text())
    assert table["region"] == "asia-northeast3" and table["currency"] == "USD"
    assert table["read"] == "2026-12-02" and "cloud.google.com" in table["source"]


def test_the_printed_table_has_every_line_and_the_total(
    config: StackConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", "--project", config.project_id]) == 0

    out = capsys.readouterr().out
    est = estimate(config)
    assert out.strip() == render(config, est)
    assert "total" in out and f"{est.total:.2f}" in out
    assert "08:00-22:00 Asia/Seoul (14 h/day)" in out
    assert main(["cost", "--days", "0"]) == 2
