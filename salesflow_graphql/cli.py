"""``salesflow-graphql``: serve the gateway, run the Java stand-in, mint tokens, export and check the schema."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .auth import Role, mint_access_token
from .config import Settings, SettingsError
from .logs import configure_logging

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salesflow-graphql", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway (embedded default without settings)")
    serve.add_argument("--host", help="interface (default SALESFLOW_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SALESFLOW_PORT or 8000)")
    serve.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if the gateway on this host and port answers /healthz (container health check)",
    )

    standin = commands.add_parser("standin", help="serve the Java stand-in on its own socket")
    standin.add_argument("--host", default="127.0.0.1")
    standin.add_argument("--port", type=int, default=8080)
    standin.add_argument("--products-bulk", action="store_true", help="serve POST /products/bulk")

    token = commands.add_parser("token", help="mint an access token with the configured secret")
    token.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--subject", default="+15550000000", help="the user's phone number")

    worker = commands.add_parser(
        "worker",
        help="run an arq worker: report jobs and periodic jobs (needs SALESFLOW_REDIS_URL)",
    )
    worker.add_argument(
        "--check", action="store_true", help="exit 0 if a worker is alive (container health check)"
    )

    export = commands.add_parser("export-schema", help="print or write the GraphQL SDL")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")

    check = commands.add_parser(
        "check-schema",
        help="compare schema.graphql with schema.released.graphql (fails on breaking changes)",
    )
    check.add_argument("--root", type=Path, default=Path(), help="folder of the two files")
    check.add_argument(
        "--release", action="store_true", help="then make schema.graphql the released schema"
    )
    manifest = commands.add_parser(
        "persisted-manifest",
        help="write a trusted-documents manifest of the example operations (or another folder)",
    )
    manifest.add_argument(
        "--operations",
        type=Path,
        default=Path("examples/operations"),
        help="folder of *.graphql files (default: examples/operations)",
    )
    manifest.add_argument(
        "--format",
        choices=["apollo", "codegen"],
        default="apollo",
        help="apollo: Apollo's persisted-query manifest; codegen: {hash: document}",
    )
    manifest.add_argument("--out", type=Path, help="file to write (default: stdout)")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.observability.log_level, settings.observability.log_format)
    return {
        "serve": _serve,
        "standin": _standin,
        "token": _token,
        "export-schema": _export_schema,
        "check-schema": _check_schema,
        "persisted-manifest": _persisted_manifest,
        "worker": _worker,
    }[args.command](settings, args)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    host = args.host or settings.edge.host
    port = args.port or settings.edge.port
    if args.check:
        return _check_health(host, port)
    if settings.embedded:
        print("SalesFlow gateway on its embedded default: seeded demo shop, no Java, no Redis.")
        print(f"Dashboard: http://{host}:{port}/dashboard   GraphiQL: http://{host}:{port}/graphql")
        print("Paste a token below into the Token field of either page:")
        for role in Role:
            print(
                token_line(role, mint_access_token(settings.auth.jwt_secret, role, ttl_s=12 * 3600))
            )
        sys.stdout.flush()
    from .edge.server import server_config
    from .otel import configure_tracing

    configure_tracing(settings)
    config = server_config(
        create_app(settings),
        settings,
        host,
        port,
        log_level=settings.observability.log_level.lower(),
        log_config=None,  # logging is configured above (JSON or text)
        # JSON: the gateway's own access line per request replaces uvicorn's.
        access_log=settings.observability.log_format.lower() == "text",
    )
    uvicorn.Server(config).run()
    return 0


def token_line(role: Role, token: str) -> str:
    """What ``serve`` prints per role; the dashboard and GraphiQL take the whole line."""
    return f'{role.value:5} {{"Authorization": "Bearer {token}"}}'


def _check_health(host: str, port: int) -> int:
    import urllib.request

    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # all interfaces: ask locally
    try:
        with urllib.request.urlopen(f"http://{local}:{port}/healthz", timeout=2) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as exc:
        print(f"gateway on {local}:{port}: {exc}", file=sys.stderr)
        return 1


def _standin(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from .standin import create_standin_from_settings

    standin = create_standin_from_settings(settings)
    standin.products_bulk = args.products_bulk or settings.standin.products_bulk
    print(
        f"Java stand-in: http://{args.host}:{args.port}/api/v1 (secret from SALESFLOW_JWT_SECRET)"
    )
    sys.stdout.flush()
    uvicorn.run(
        standin.app,
        host=args.host,
        port=args.port,
        log_level=settings.observability.log_level.lower(),
        log_config=None,  # logging is configured in main (JSON or text)
    )
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    print(
        mint_access_token(settings.auth.jwt_secret, args.role, subject=args.subject, ttl_s=args.ttl)
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from .jobs.worker import healthy

    if not settings.redis_url:
        print(
            "The worker takes jobs from Redis: set SALESFLOW_REDIS_URL (the gateway runs jobs "
            "in process without it).",
            file=sys.stderr,
        )
        return 2
    if args.check:
        return 0 if asyncio.run(healthy(settings)) else 1
    if settings.embedded:
        print("Worker without SALESFLOW_JAVA_API_URL: using its own seeded demo stand-in.")
        sys.stdout.flush()
    if settings.observability.worker_metrics_port:
        from prometheus_client import start_http_server

        from .metrics import REGISTRY

        start_http_server(
            settings.observability.worker_metrics_port, addr=settings.edge.host, registry=REGISTRY
        )
        log.info(
            "worker metrics on %s:%d",
            settings.edge.host,
            settings.observability.worker_metrics_port,
        )
    asyncio.run(_run_worker(settings))
    return 0


async def _run_worker(settings: Settings) -> None:
    """The worker process: the Runtime's services, arq on them, then both closed."""
    from .jobs.worker import serve
    from .runtime import Runtime

    runtime = await Runtime.start(settings)
    try:
        await serve(runtime)
    finally:
        await runtime.close()


def _export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from .graphql.schema import schema_sdl

    sdl = schema_sdl()
    if args.out:
        args.out.write_text(sdl)
    else:
        sys.stdout.write(sdl)
    return 0


def _check_schema(settings: Settings, args: argparse.Namespace) -> int:
    from .graphql.compatibility import CURRENT_SCHEMA, RELEASED_SCHEMA, compare_files

    changes = compare_files(args.root)
    print(changes.report())
    if changes.breaking:
        print(
            f"{CURRENT_SCHEMA} breaks clients of {RELEASED_SCHEMA}: deprecate first, "
            "remove in a later release.",
            file=sys.stderr,
        )
        return 1
    if args.release:
        (args.root / RELEASED_SCHEMA).write_text((args.root / CURRENT_SCHEMA).read_text())
        print(f"{RELEASED_SCHEMA} is now {CURRENT_SCHEMA}.")
    return 0


def _persisted_manifest(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from .graphql.persisted import manifest_from_operations

    if not args.operations.is_dir():
        print(f"{args.operations} is not a folder of .graphql files", file=sys.stderr)
        return 2
    manifest = manifest_from_operations(args.operations, codegen=args.format == "codegen")
    text = json.dumps(manifest, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
