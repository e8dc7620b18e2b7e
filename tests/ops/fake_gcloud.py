"""A stand-in `gcloud` on PATH: records every call and answers from a list of canned rules.

A rule is {"args": [...], "out": JSON-able or str, "exit": int, "err": str, "times": int}: it
answers a call whose arguments start with `args` (flags like --quiet and --project= ignored), at
most `times` times when given. A call no rule answers fails, as a real command we did not expect
should fail the test loudly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SCRIPT = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
positional = [a for a in args if not (a == "--quiet" or a.startswith(("--project=", "--format=")))]
rules_path = os.environ["FAKE_GCLOUD_RULES"]
rules = json.load(open(rules_path))
for rule in rules:
    if positional[: len(rule["args"])] == rule["args"] and rule.get("times", 1) != 0:
        if "times" in rule:
            rule["times"] -= 1
            json.dump(rules, open(rules_path, "w"))
        out = rule.get("out", "")
        sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
        sys.stderr.write(rule.get("err", ""))
        sys.exit(rule.get("exit", 0))
sys.stderr.write("ERROR: (gcloud) the fake has no answer for: " + " ".join(positional) + "\\n")
sys.exit(1)
"""


class FakeGcloud:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rules_path = folder / "rules.json"
        self.log_path = folder / "calls.log"
        self.rules: list[dict[str, Any]] = []

    def on(self, *args: str, out: Any = "", exit: int = 0, err: str = "", times: int | None = None):
        rule: dict[str, Any] = {"args": list(args), "out": out, "exit": exit, "err": err}
        if times is not None:
            rule["times"] = times
        # Later rules for the same call win: put them first.
        self.rules.insert(0, rule)
        self._save()
        return self

    def _save(self) -> None:
        self.rules_path.write_text(json.dumps(self.rules))

    def calls(self) -> list[list[str]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def positional_calls(self) -> list[str]:
        return [
            " ".join(
                a for a in call if not a.startswith("--quiet") and not a.startswith("--format=")
            )
            for call in self.calls()
        ]


@contextmanager
def fake_gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcloud]:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    fake = FakeGcloud(tmp_path)
    fake._save()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GCLOUD_LOG", str(fake.log_path))
    monkeypatch.setenv("FAKE_GCLOUD_RULES", str(fake.rules_path))
    yield fake
