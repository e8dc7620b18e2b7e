"""`nox -s cost`: the demo's cost from the stack's own settings and the committed price table.

Only what the stack sizes is priced: the VM's machine type and GPU for the hours its schedule
runs it, its boot disk (billed while stopped too), Cloud SQL's tier and SSD for every hour, Cloud
NAT while the VM runs plus its address, and the secrets. ops/prices.json says where each price
comes from and when it was read; a setting without a price is an error, never a silent 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config import StackConfig

PRICES = Path(__file__).with_name("prices.json")
SECRETS = 4  # the stack's BAKE_SIGHT_* secrets, one active version each


class PriceMissing(KeyError):
    """The price table has no price for a setting the stack uses."""


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    unit_price: str
    cost: float


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    vm_always_on: float  # the VM alone if it ran around the clock (no opening-hours schedule)
    days: int
    source: str
    currency: str

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)


def running_hours_per_day(config: StackConfig) -> float:
    """The VM's daily running hours from opening_hours (a stop before the start wraps midnight)."""
    start = _minutes(config.opening_hours.start)
    stop = _minutes(config.opening_hours.stop)
    return ((stop - start) % (24 * 60)) / 60


def estimate(config: StackConfig, days: int = 14, prices: dict[str, Any] | None = None) -> Estimate:
    table = prices or json.loads(PRICES.read_text())
    hourly, monthly, per_gb = table["hourly"], table["monthly"], table["per_gb"]
    month_fraction = days * 24 / table["assumptions"]["hours_per_month"]
    vm_hours = running_hours_per_day(config) * days
    all_hours = 24.0 * days

    def price(section: dict[str, float], key: str) -> float:
        if key not in section:
            raise PriceMissing(f"ops/prices.json has no price for {key!r}")
        return float(section[key])

    machine = price(hourly, f"machine:{config.machine_type}")
    gpu = price(hourly, f"gpu:{config.accelerator}")
    disk = price(monthly, "disk:pd-balanced per GB")
    sql = price(hourly, f"sql:{config.sql_tier}")
    sql_disk = price(monthly, "sql:ssd per GB")
    nat_vm = price(hourly, "nat:gateway-per-vm")
    nat_ip = price(hourly, "ip:external-in-use")
    nat_gb = price(per_gb, "nat:data processed")
    secret = price(monthly, "secret:active version")
    gb = table["assumptions"]["nat_gb_per_two_weeks"] * days / 14

    lines = (
        Line(
            f"VM {config.machine_type}", f"{vm_hours:.0f} h", f"{machine:.4f}/h", machine * vm_hours
        ),
        Line(f"GPU {config.accelerator}", f"{vm_hours:.0f} h", f"{gpu:.4f}/h", gpu * vm_hours),
        Line(
            f"boot disk pd-balanced {config.boot_disk_gb} GB",
            f"{days} d",
            f"{disk:.3f}/GB-mo",
            disk * config.boot_disk_gb * month_fraction,
        ),
        Line(f"Cloud SQL {config.sql_tier}", f"{all_hours:.0f} h", f"{sql:.4f}/h", sql * all_hours),
        Line(
            f"Cloud SQL SSD {config.sql_disk_gb} GB",
            f"{days} d",
            f"{sql_disk:.3f}/GB-mo",
            sql_disk * config.sql_disk_gb * month_fraction,
        ),
        Line("Cloud NAT gateway (1 VM)", f"{vm_hours:.0f} h", f"{nat_vm:.4f}/h", nat_vm * vm_hours),
        Line("Cloud NAT address", f"{all_hours:.0f} h", f"{nat_ip:.4f}/h", nat_ip * all_hours),
        Line("Cloud NAT data (installs)", f"{gb:.0f} GB", f"{nat_gb:.3f}/GB", nat_gb * gb),
        Line(
            f"Secret Manager ({SECRETS})",
            f"{days} d",
            f"{secret:.2f}/mo",
            secret * SECRETS * month_fraction,
        ),
    )
    always_on = (machine + gpu) * all_hours + disk * config.boot_disk_gb * month_fraction
    return Estimate(lines, always_on, days, table["source"], table["currency"])


def render(config: StackConfig, est: Estimate) -> str:
    hours = running_hours_per_day(config)
    opening = config.opening_hours
    width = max(len(line.item) for line in est.lines)
    rows = [
        f"Two-week estimate ({est.days} days) for {config.region}, {est.currency}; the GPU VM runs "
        f"{opening.start}-{opening.stop} {opening.time_zone} "
        f"({hours:g} h/day)",
        "",
        f"{'item':<{width}}  {'quantity':>9}  {'unit price':>13}  {'cost':>9}",
        f"{'-' * width}  {'-' * 9}  {'-' * 13}  {'-' * 9}",
    ]
    rows += [
        f"{line.item:<{width}}  {line.quantity:>9}  {line.unit_price:>13}  {line.cost:>9.2f}"
        for line in est.lines
    ]
    rows += [
        f"{'-' * width}  {'-' * 9}  {'-' * 13}  {'-' * 9}",
        f"{'total':<{width}}  {'':>9}  {'':>13}  {est.total:>9.2f}",
        "",
        f"Without the opening-hours schedule the VM alone (machine, GPU, disk) would cost "
        f"{est.vm_always_on:.2f}.",
        "Cloud Run, Artifact Registry, Cloud Storage, Cloud Build and Logging: free tier at demo "
        "volume (0).",
        f"Prices: {est.source}",
    ]
    return "\n".join(rows)


def _minutes(hh_mm: str) -> int:
    hours, minutes = hh_mm.split(":")
    return int(hours) * 60 + int(minutes)
