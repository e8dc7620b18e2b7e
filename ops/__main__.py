"""`python -m ops COMMAND --project ID`: the operator tasks the noxfile runs (see its sessions)."""

from __future__ import annotations

import argparse
import shlex
import sys

from stacks.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    parser.add_argument(
        "command", choices=["preflight", "state", "verify", "seed", "cost", "destroy"]
    )
    parser.add_argument("--project", help="the GCP project (default: BAKESIGHT_PROJECT_ID)")
    parser.add_argument("--url", help="verify: Central's URL (default: from Cloud Run)")
    parser.add_argument("--days", type=int, default=14, help="cost: the demo's length in days")
    parser.add_argument(
        "--cdktf",
        default="npx --yes cdktf-cli@0.21.0",
        help="destroy: the cdktf CLI to run (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    import os

    from ops.settings import stack_config

    project = args.project or None
    if args.command == "cost" and not (project or os.environ.get("BAKESIGHT_PROJECT_ID")):
        project = "bakesight-estimate"  # prices do not depend on the project
    try:
        config = stack_config(project)
    except ConfigError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2
    if args.command == "cost":
        from ops.cost import PriceMissing, estimate, render

        if args.days < 1:
            print("cost: --days must be 1 or more", file=sys.stderr)
            return 2
        try:
            print(render(config, estimate(config, args.days)))
        except PriceMissing as error:
            print(f"cost: {error.args[0]}", file=sys.stderr)
            return 1
        return 0

    from ops.gcloud import Gcloud, GcloudError

    gcloud = Gcloud(config.project_id)
    if args.command == "preflight":
        from ops.preflight import print_report, run_preflight

        return print_report(run_preflight(gcloud, config))
    if not gcloud.available():
        print(f"{args.command}: gcloud not found: install the Google Cloud CLI", file=sys.stderr)
        return 2
    try:
        if args.command == "state":
            from ops.state import StateError, ensure_state_bucket

            try:
                ensure_state_bucket(gcloud, config, lambda line: print(f"state: {line}"))
            except StateError as error:
                print(f"state: {error}", file=sys.stderr)
                return 1
            return 0
        if args.command in ("verify", "seed"):
            from ops.verify import StepFailed, Target, discover, run_verify

            try:
                target = discover(gcloud, config)
            except StepFailed as error:
                print(f"{args.command}: FAIL {'discover':<12} {error}")
                return 1
            if args.url:
                target = Target(args.url.rstrip("/"), target.admin_key)
            if args.command == "seed":
                from ops.seed import run_seed

                return run_seed(target)
            return run_verify(target)
        from ops.destroy import run_destroy

        return run_destroy(gcloud, config, [*shlex.split(args.cdktf), "destroy", "--auto-approve"])
    except GcloudError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
