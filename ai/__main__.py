"""`python -m ai serve` runs the service; `python -m ai smoke [--cpu]` is the GPU smoke test."""

from __future__ import annotations

import argparse
import sys

from ai.settings import SettingsError, load_settings

# Exit status for a configuration error; the systemd unit does not restart on it (nothing to retry).
CONFIG_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ai", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the AI API (settings from the environment)")
    serve.add_argument("--host", help="overrides AI_HOST")
    serve.add_argument("--port", type=int, help="overrides AI_PORT")
    smoke = commands.add_parser("smoke", help="check the real pipeline on the GPU against the CPU")
    smoke.add_argument("--cpu", action="store_true", help="run the same checks on the CPU only")
    smoke.add_argument(
        "--pipeline",
        choices=["real", "mock"],
        default="real",
        help="the recognizer to check (mock: exercise the smoke test itself)",
    )
    smoke.add_argument("--repeat", type=_positive, default=5, help="timed runs per tray")
    args = parser.parse_args(argv)
    if args.command == "smoke":
        from ai.smoke import run_smoke

        return run_smoke(cpu=args.cpu, pipeline=args.pipeline, repeat=args.repeat)
    return _serve(args.host, args.port)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _serve(host: str | None, port: int | None) -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)  # one line naming every problem
        return CONFIG_ERROR
    import servicekit.server
    from ai.app import create_app
    from ai.device import DeviceError
    from ai.factory import PipelineMissing
    from servicekit.logs import configure_logging

    # JSON lines on stdout (journald, then the Ops Agent, reads them); uvicorn's own loggers too.
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except (PipelineMissing, DeviceError) as error:
        print(f"the AI service cannot start: {error}", file=sys.stderr)
        return CONFIG_ERROR
    servicekit.server.run(
        app,
        max_header_bytes=settings.http_limits.max_header_bytes,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        # The request log middleware writes the access line, without the query string.
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
