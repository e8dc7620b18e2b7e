"""IAM members as the constructs take them: a stable label for construct ids, and the member."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """`member` is often a Terraform reference (an account's email), so ids use `label` instead."""

    label: str
    member: str
