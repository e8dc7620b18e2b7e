"""The checkov gate of `nox -s synth`: every failed (or crashed) check must be a listed skip.

`python -m stacks.policy_gate REPORT.json STDERR.log SKIPS.txt` exits 0 when every failure is
covered by a skip with a reason, and 1 otherwise, printing one line per uncovered failure. A check
that crashes inside checkov proved nothing, so it counts as a failure too.

Skip lines are `CHECK_ID  RESOURCE_GLOB  reason...` (`#` starts a comment); the resource is the
construct id checkov prints after `resource.` (construct ids are unique within the stack).
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_CRASH = re.compile(r"Failed to run check (\S+) on \S+:[a-z0-9_]+\.(\S+)")


@dataclass(frozen=True)
class Skip:
    check_id: str
    resource_glob: str
    reason: str

    def covers(self, finding: Finding) -> bool:
        return self.check_id == finding.check_id and fnmatch.fnmatchcase(
            finding.resource, self.resource_glob
        )


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    title: str


class SkipListError(ValueError):
    pass


def parse_skips(text: str) -> list[Skip]:
    skips = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[2].strip():
            raise SkipListError(f"skip list line {number} has no reason: {line!r}")
        if not re.fullmatch(r"CKV2?_[A-Z]+_\d+", parts[0]):
            raise SkipListError(f"skip list line {number}: {parts[0]!r} is not a checkov id")
        skips.append(Skip(parts[0], parts[1], parts[2].strip()))
    return skips


def findings(report: dict | list, stderr: str) -> list[Finding]:
    reports = report if isinstance(report, list) else [report]
    found = [
        Finding(item["check_id"], item["resource"].split(".", 1)[-1], item["check_name"])
        for rep in reports
        for item in rep.get("results", {}).get("failed_checks", [])
    ]
    found += [
        Finding(check_id, resource, "checkov crashed running this check")
        for check_id, resource in _CRASH.findall(stderr)
    ]
    return found


def gate(found: list[Finding], skips: list[Skip]) -> tuple[list[Finding], list[Skip]]:
    """The findings no skip covers, and the skips that covered nothing (stale)."""
    uncovered = [f for f in found if not any(s.covers(f) for s in skips)]
    unused = [s for s in skips if not any(s.covers(f) for f in found)]
    return uncovered, unused


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m stacks.policy_gate REPORT.json STDERR.log SKIPS.txt")
        return 2
    report_path, stderr_path, skips_path = (Path(a) for a in argv)
    try:
        skips = parse_skips(skips_path.read_text())
        report = json.loads(report_path.read_text() or "{}")
    except (OSError, ValueError) as error:
        print(f"policy gate: {error}")
        return 1
    found = findings(report, stderr_path.read_text())
    uncovered, unused = gate(found, skips)
    for skip in unused:
        print(f"policy gate: note: skip {skip.check_id} {skip.resource_glob} matched nothing")
    for finding in uncovered:
        print(f"policy gate: FAILED {finding.check_id} on {finding.resource}: {finding.title}")
    if uncovered:
        print(f"policy gate: {len(uncovered)} failed check(s) not in {skips_path}")
        return 1
    print(f"policy gate: passed ({len(found)} failure(s), all skipped with a reason)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
