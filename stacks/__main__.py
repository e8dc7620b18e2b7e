"""`python -m stacks`: the cdktf app (cdktf.json runs it for `cdktf synth/deploy/destroy`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "bakesight"


def main() -> int:
    # jsii prints a multi-line banner for Node 20 on every run; the CI machines have Node 20.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from cdktf import App

    from stacks.config import ConfigError, load_config

    # `cdktf synth` hands the app cdktf.json's context in CDKTF_CONTEXT_JSON; `python -m stacks`
    # (nox, tests) reads the same file so both see the same settings.
    context = None
    if "CDKTF_CONTEXT_JSON" not in os.environ:
        context = json.loads((REPO_ROOT / "cdktf.json").read_text()).get("context", {})
    app = App(context=context)
    try:
        config = load_config(app.node.try_get_context, os.environ)
    except ConfigError as error:
        print(f"bakesight stacks: {error}", file=sys.stderr)
        return 2

    # Imported only now: loading the provider bindings takes seconds.
    from stacks.stack import BakeSightStack

    stack = BakeSightStack(
        app, STACK_NAME, config, repo_root=REPO_ROOT, work_dir=REPO_ROOT / "build" / "stacks"
    )
    for warning in stack.warnings:
        print(f"bakesight stacks: warning: {warning}", file=sys.stderr)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
