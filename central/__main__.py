"""`python -m central serve | migrate | seed` — one-line errors, never a stack trace."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from central import migrations
from central.db import UNAVAILABLE_ERRORS, Database
from central.seed import DEFAULT_CATALOG, seed
from central.settings import Settings, SettingsError, load_settings
from servicekit.logs import configure_logging

# What a database that is not there looks like, with or without SQLAlchemy's wrapping.
UNREACHABLE: tuple[type[Exception], ...] = (OSError, ConnectionError, *UNAVAILABLE_ERRORS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="central", description="BakeSight Central API")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (uvicorn, PORT, one worker)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - Cloud Run routes to the container
    commands.add_parser("migrate", help="apply pending schema migrations to DATABASE_URL")
    seed_cmd = commands.add_parser(
        "seed", help="migrate, then add the catalog's store and products"
    )
    seed_cmd.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    args = parser.parse_args(argv)

    # httpx logs every call to the AI at INFO; Central's own lines already say what happened.
    configure_logging(quiet=("httpx",))
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)  # one line naming every problem; nothing to retry
        return 2
    if args.command == "serve":
        import servicekit.server
        from central.app import create_app

        servicekit.server.run(
            create_app(settings),
            max_header_bytes=settings.http_limits.max_header_bytes,
            host=args.host,
            port=settings.port,
            proxy_headers=True,
            forwarded_allow_ips="*",
            access_log=False,
            log_config=None,
        )
        return 0
    try:
        result = asyncio.run(_offline(args.command, settings, getattr(args, "catalog", None)))
    except UNREACHABLE as exc:
        reason = getattr(exc, "orig", None) or exc  # the driver's words, not SQLAlchemy's SQL
        print(f"central: cannot reach the database: {reason}", file=sys.stderr)
        return 1
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"central: {args.command} failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


async def _offline(command: str, settings: Settings, catalog: Path | None) -> dict[str, Any]:
    database = Database(settings.database)
    try:
        applied = await migrations.migrate(database)
        out: dict[str, Any] = {
            "migrations_applied": applied,
            "schema_version": await migrations.current_version(database),
        }
        if command == "seed":
            out.update(await seed(database, catalog or DEFAULT_CATALOG))
        return out
    finally:
        await database.dispose()


if __name__ == "__main__":
    sys.exit(main())
