"""`gcloud` as the operator tools call it: JSON out, one typed error, no prompts.

Every check and step goes through `Gcloud.json`/`Gcloud.text`, so the tests replace the real CLI
with a script on PATH that records its calls and answers canned JSON (tests/ops/fake_gcloud.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any


class GcloudError(RuntimeError):
    """A gcloud command failed; `stderr` is its last line (what gcloud says went wrong)."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        self.args_ = args
        self.returncode = returncode
        self.stderr = lines[-1] if lines else f"exit status {returncode}"
        super().__init__(f"`gcloud {' '.join(args[:3])} …` failed: {self.stderr}")


@dataclass(frozen=True)
class Gcloud:
    project: str
    executable: str = "gcloud"
    timeout_s: float = 120

    def available(self) -> bool:
        return shutil.which(self.executable) is not None

    def json(self, *args: str, project: bool = True) -> Any:
        """Run `gcloud ARGS --format=json` and parse what it prints ([] or {} when empty)."""
        out = self.text(*args, "--format=json", project=project)
        return json.loads(out) if out.strip() else None

    def text(self, *args: str, project: bool = True) -> str:
        command = [self.executable, *args, "--quiet"]
        if project:
            command.append(f"--project={self.project}")
        try:
            result = subprocess.run(  # noqa: S603 - a fixed executable, arguments as a list
                command, capture_output=True, text=True, timeout=self.timeout_s
            )
        except FileNotFoundError as error:
            raise GcloudError(list(args), 127, f"{self.executable} not found") from error
        except subprocess.TimeoutExpired as error:
            raise GcloudError(list(args), 124, f"no answer in {self.timeout_s:.0f} s") from error
        if result.returncode != 0:
            raise GcloudError(list(args), result.returncode, result.stderr)
        return result.stdout

    def ok(self, *args: str, project: bool = True) -> bool:
        """Whether the command succeeds (its output is not needed)."""
        try:
            self.text(*args, project=project)
        except GcloudError:
            return False
        return True
