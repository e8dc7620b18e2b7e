"""The checkov gate: uncovered failures fail, skips need reasons, crashed checks count."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.policy_gate import Finding, SkipListError, findings, gate, parse_skips

SKIPS = Path(__file__).resolve().parents[2] / "stacks" / "checkov-skips.txt"


def test_committed_skip_list_gives_every_skip_a_reason() -> None:
    skips = parse_skips(SKIPS.read_text())
    assert skips and all(len(s.reason) > 20 for s in skips)


def test_skip_without_reason_is_refused() -> None:
    with pytest.raises(SkipListError, match="line 2 has no reason"):
        parse_skips("# header\nCKV_GCP_60 sql-instance\n")


def test_uncovered_failures_and_crashed_checks_are_reported() -> None:
    report = {
        "results": {
            "failed_checks": [
                {"check_id": "CKV_GCP_62", "resource": "resource.bucket-tray", "check_name": "log"},
                {"check_id": "CKV_GCP_40", "resource": "resource.ai-vm", "check_name": "public"},
            ]
        }
    }
    stderr = (
        "[ERROR]  Failed to run check CKV_GCP_50 on "
        "/cdk.tf.json:google_sql_database_instance.sql-instance\n"
    )
    found = findings(report, stderr)
    assert Finding("CKV_GCP_50", "sql-instance", "checkov crashed running this check") in found
    uncovered, unused = gate(found, parse_skips("CKV_GCP_62 bucket-* access logs not needed\n"))
    assert [f.check_id for f in uncovered] == ["CKV_GCP_40", "CKV_GCP_50"]
    assert unused == []
