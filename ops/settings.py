"""The stack's settings as the operator tools see them: cdktf.json's context and BAKESIGHT_*.

The same `stacks.config.load_config` synth uses, so preflight, verify, cost and destroy check and
price exactly what the stack deploys. stacks.config imports nothing from cdktf.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stacks.config import StackConfig, load_config

REPO_ROOT = Path(__file__).resolve().parent.parent


def stack_config(project: str | None = None, root: Path = REPO_ROOT) -> StackConfig:
    """The validated settings; `project` (from --project) wins over everything else."""
    context = json.loads((root / "cdktf.json").read_text()).get("context", {})
    environ = dict(os.environ)
    if project:
        environ["BAKESIGHT_PROJECT_ID"] = project
    return load_config(context.get, environ)
