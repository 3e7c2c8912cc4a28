"""The `gptstore` command: serve, worker, ingest, db, users, reindex, secrets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from core.settings import Settings, get_settings


class _Stopped(Exception):
    """Raised by our SIGINT/SIGTERM handler, which uvicorn re-raises after its graceful shutdown."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def running_servers(
    settings: Settings,
    *,
    migrate_embedded: bool = True,
    attach: bool = True,
    processes: int = 1,
    on_server_lost: Callable[[str], None] | None = None,
) -> Iterator[Settings]:
    """Settings with database and Redis URLs: the configured ones, the embedded servers of a gptstore
    process already serving the data dir (`attach`), or embedded servers started here. The embedded
    PostgreSQL admits every pool of `processes` app processes at its fullest (docs/operations.md).
    `on_server_lost`: embedded servers started here are restarted when they die (core.supervise), and
    this is called with a message when one cannot be."""
    from core import migrate
    from core.embedded import DataDirInUse, EmbeddedError, EmbeddedServers

    servers = None
    if settings.embedded_database or settings.embedded_redis:
        servers = EmbeddedServers(
            settings.data_dir,
            postgres=settings.embedded_database,
            redis=settings.embedded_redis,
            postgres_options={"max_connections": str(embedded_max_connections(settings, processes))},
        )
        try:
            servers.start()
        except DataDirInUse as exc:
            if not attach:
                raise click.ClickException(str(exc)) from None
            settings, servers = _attach(settings, exc), None
        except EmbeddedError as exc:
            raise click.ClickException(str(exc)) from None
        else:
            settings = settings.model_copy(
                update={
                    "database_url": servers.database_url or settings.database_url,
                    "redis_url": servers.redis_url or settings.redis_url,
                }
            )
    if servers is not None and on_server_lost is not None:
        servers.supervise(on_server_lost)
    try:
        if servers is not None and servers.postgres and migrate_embedded:
            migrate.upgrade(settings.database_url)
        yield settings
    finally:
        if servers is not None:
            servers.stop()


POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
CONNECTIONS_FOR_COMMANDS = 20  # CLI commands, a standalone worker, psql, superuser_reserved_connections


def embedded_max_connections(settings: Settings, processes: int) -> int:
    """PostgreSQL's `max_connections` for the embedded server: every app process's pool at its fullest
    (`db_pool_size + db_max_overflow`) plus room for commands, and never below PostgreSQL's default."""
    pools = processes * (settings.db_pool_size + settings.db_max_overflow)
    return max(POSTGRES_DEFAULT_MAX_CONNECTIONS, pools + CONNECTIONS_FOR_COMMANDS)


def _attach(settings: Settings, in_use: Exception) -> Settings:
    """Settings pointing at the embedded servers of the gptstore process that serves the data dir."""
    from core.embedded import running_instance

    info = running_instance(settings.data_dir)
    database_url = settings.database_url or (info or {}).get("database_url")
    redis_url = settings.redis_url or (info or {}).get("redis_url")
    if info is None or not database_url or not redis_url:
        raise click.ClickException(str(in_use))
    return settings.model_copy(update={"database_url": database_url, "redis_url": redis_url})


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when `host:port` cannot be bound, before any server or migration is started."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            reasons = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs privileges to listen on"}
            reason = reasons.get(exc.errno, f"cannot be used ({exc.strerror})")
            raise click.ClickException(
                f"port {port} on {host} {reason}; choose another with --port"
            ) from None


def _require_redis(settings: Settings) -> None:
    """Refuse to start when the configured Redis does not answer (a `_Commands` error line, not a
    process that answers 503 to everything from its first request)."""
    from core.redis import create_redis

    async def ping() -> None:
        redis = create_redis(settings.redis_url, pool_size=1, pool_timeout=5)
        try:
            await redis.ping()
        finally:
            await redis.aclose()

    asyncio.run(ping())


def _require_current_schema(settings: Settings) -> None:
    from core import migrate
    from core.db import create_engine

    async def check() -> bool:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await migrate.is_current(engine)
        finally:
            await engine.dispose()

    if not asyncio.run(check()):
        raise click.ClickException(
            "The database schema is behind this version of gptstore. Run `gptstore db upgrade` first."
        )


PORT = click.IntRange(1, 65535)  # every port option: 99999 would otherwise listen on 99999 mod 65536


# The setting that names each server core.exhaustion reports unreachable at start-up.
_SERVER_SETTINGS = {"database": "GPTSTORE_DATABASE_URL", "object storage": "GPTSTORE_STORAGE_URL"}


class _Commands(click.Group):
    """Every command's wrong settings and unreachable servers end in `Error: ...` lines and exit 1, not in
    a traceback: one line per wrong setting, naming its `GPTSTORE_*` variable."""

    def invoke(self, ctx: click.Context):
        from pydantic import ValidationError
        from pydantic_settings import SettingsError

        from core.exhaustion import REDIS, exhausted_resource
        from core.settings import settings_problems

        try:
            return super().invoke(ctx)
        except (ValidationError, SettingsError) as exc:
            for line in settings_problems(exc):
                click.echo(f"Error: {line}", err=True)
            ctx.exit(1)
        except Exception as exc:
            refused = _refused_login(exc)
            resource = exhausted_resource(exc)
            if refused is None and resource is None:
                raise
            setting = "GPTSTORE_REDIS_URL" if resource == REDIS else _SERVER_SETTINGS.get(resource, "")
            setting = setting or "GPTSTORE_DATABASE_URL"
            reason = refused or f"the {resource} is busy or cannot be reached ({_innermost(exc)})"
            raise click.ClickException(f"{setting}: {reason}") from None


def _innermost(exc: BaseException) -> BaseException:
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    return exc


def _refused_login(exc: BaseException) -> str | None:
    """PostgreSQL's own refusal of the configured role or database (wrong password, no such database)."""
    import asyncpg.exceptions

    cause = _innermost(exc)
    refusals = (
        asyncpg.exceptions.InvalidAuthorizationSpecificationError,
        asyncpg.exceptions.InvalidCatalogNameError,
    )
    return f"the database refused the connection: {cause}" if isinstance(cause, refusals) else None


@click.group(cls=_Commands)
def main() -> None:
    """gptstore: build custom GPTs by chatting and publish them in a store."""
    from core.logs import configure_logging

    configure_logging(get_settings().log_level)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
@click.option("--service", type=click.Choice(["all", "builder", "store"]), default="all", show_default=True)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--with-worker/--without-worker",
    default=None,
    help="Run the job worker inside the server (default: yes on the embedded Redis, no otherwise).",
)
def serve(host: str, port: int, service: str, workers: int, with_worker: bool | None) -> None:
    """Run the HTTP service (starting embedded PostgreSQL and Redis when no URLs are configured)."""
    from core.tokens import seed_tiktoken_cache

    settings = get_settings()
    run_worker = settings.embedded_redis if with_worker is None else with_worker
    check_port_free(host, port)
    lost: list[str] = []

    def give_up(message: str) -> None:  # from the supervisor's thread: stop as on SIGTERM, then exit 1
        lost.append(message)
        os.kill(os.getpid(), signal.SIGTERM)

    with running_servers(settings, attach=False, processes=workers, on_server_lost=give_up) as settings:
        if not settings.embedded_database:
            _require_current_schema(settings)
        if not settings.embedded_redis:
            _require_redis(settings)
        seed_tiktoken_cache(settings.data_dir / "tiktoken")
        settings = settings.model_copy(update={"service": service, "run_worker": run_worker})
        click.echo(
            f"gptstore serving {service} on http://{host}:{port} (data dir {settings.data_dir})", err=True
        )
        # uvicorn shuts down gracefully on a signal, then re-raises it under the handler found at start:
        # ours turns that into a normal return, so the embedded servers are stopped in order.
        signal.signal(signal.SIGTERM, _raise_stopped)
        signal.signal(signal.SIGINT, _raise_stopped)
        try:
            _run_uvicorn(settings, host, port, workers, service, run_worker)
        except _Stopped:
            pass
        if lost:  # a supervisor (systemd, Docker's restart policy) starts the process afresh
            raise click.ClickException(lost[0])
        click.echo("gptstore stopped", err=True)


def _run_uvicorn(
    settings: Settings, host: str, port: int, workers: int, service: str, run_worker: bool
) -> None:
    import uvicorn

    if workers == 1:
        from core.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    else:
        # Worker processes rebuild the settings from the environment, URLs included.
        os.environ.update(
            {
                "GPTSTORE_DATABASE_URL": settings.database_url,
                "GPTSTORE_REDIS_URL": settings.redis_url,
                "GPTSTORE_SERVICE": service,
                "GPTSTORE_RUN_WORKER": "true" if run_worker else "false",
                "GPTSTORE_SECRET_KEY": settings.secret(),
            }
        )
        uvicorn.run(
            "core.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
        )


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Jobs run at once (default GPTSTORE_WORKER_CONCURRENCY, 4); about 2 per core (docs/ingestion.md).",
)
def worker(concurrency: int | None) -> None:
    """Run the job worker on its own (for deployments that split it from the web service)."""
    from core.app import cron_jobs, job_functions
    from core.db import Database
    from core.jobs import build_worker, create_queue
    from core.redis import redis_from_settings
    from core.tokens import seed_tiktoken_cache

    with running_servers(get_settings()) as settings:
        _require_current_schema(settings)
        _require_redis(settings)
        seed_tiktoken_cache(settings.data_dir / "tiktoken")

        async def run() -> None:
            db = Database.from_settings(settings, settings.database_url)
            redis = redis_from_settings(settings)
            queue = create_queue(redis)
            context = {"settings": settings, "db": db, "redis": redis, "queue": queue}
            try:
                await build_worker(
                    queue,
                    job_functions(),
                    cron_jobs(settings),
                    context,
                    in_process=False,
                    concurrency=concurrency or settings.worker_concurrency,
                ).start()
            finally:
                await redis.aclose()
                await db.dispose()

        asyncio.run(run())


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--dataset",
    "--gpt",
    "dataset_id",
    type=click.UUID,
    required=True,
    help="The dataset to add to (a GPT's id names its home dataset).",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show ingestion progress until done.")
def ingest(paths: tuple[Path, ...], dataset_id, wait: bool) -> None:
    """Add files and folders (recursively) to a dataset as file batches; run again to resume: content the
    dataset already has is skipped. Ingestion runs on the workers (docs/ingestion.md)."""
    from core.errors import AppError
    from retrieval.bulk_ingest import ingest_with_progress

    with running_servers(get_settings()) as settings:
        _require_current_schema(settings)
        try:
            asyncio.run(ingest_with_progress(settings, dataset_id, paths, wait=wait))
        except AppError as exc:
            raise click.ClickException(exc.detail) from None


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply pending migrations."""
    from core import migrate

    with running_servers(get_settings(), migrate_embedded=False) as settings:
        migrate.upgrade(settings.database_url)
        click.echo(f"database at revision {migrate.head_revision()}")


@main.group()
def users() -> None:
    """Accounts."""


@users.command("set-plan")
@click.argument("email")
@click.argument("plan", type=click.Choice(["free", "plus", "team"]))
def set_plan(email: str, plan: str) -> None:
    """Change an account's plan."""
    from core.auth import AccountService
    from core.db import Database
    from core.errors import AppError

    with running_servers(get_settings()) as settings:

        async def run() -> None:
            db = Database.from_settings(settings, settings.database_url)
            try:
                async with db.session_scope() as session:
                    await AccountService(session, settings).set_plan_by_email(email, plan)
            finally:
                await db.dispose()

        try:
            asyncio.run(run())
        except AppError as exc:
            raise click.ClickException(exc.detail) from None
        click.echo(f"{email} is now on the {plan} plan")


@main.group()
def orgs() -> None:
    """Organisations (docs/organisations.md)."""


@orgs.command("set-plan")
@click.argument("handle")
@click.argument("plan", type=click.Choice(["free", "team"]))
def set_organization_plan(handle: str, plan: str) -> None:
    """Change an organisation's plan (`team`: its builders create GPTs owned by it)."""
    from core.db import Database
    from core.errors import AppError
    from orgs.service import OrganizationService

    with running_servers(get_settings()) as settings:

        async def run() -> None:
            db = Database.from_settings(settings, settings.database_url)
            try:
                async with db.session_scope() as session:
                    service = OrganizationService(session, settings)
                    await service.set_plan((await service.by_handle(handle)).id, plan)
            finally:
                await db.dispose()

        try:
            asyncio.run(run())
        except AppError as exc:
            raise click.ClickException(exc.detail) from None
        click.echo(f"the organisation {handle} is now on the {plan} plan")


@main.command()
@click.option(
    "--dataset",
    "--gpt",
    "dataset_id",
    type=click.UUID,
    default=None,
    help="Only this dataset's knowledge (a GPT's id names its home dataset).",
)
def reindex(dataset_id) -> None:
    """Re-embed knowledge made by an earlier embedding model with the configured one (resumable)."""
    from core.db import Database
    from core.errors import AppError, NotFound
    from retrieval.embedding import EmbeddingError, get_embedder
    from retrieval.jobs import chunks_to_reindex
    from retrieval.jobs import reindex as reindex_chunks
    from store.service import reembed_listings

    with running_servers(get_settings()) as settings:
        _require_current_schema(settings)

        async def run() -> tuple[str, int]:
            db = Database.from_settings(settings, settings.database_url)
            embedder = get_embedder(settings)
            try:
                if dataset_id is not None:
                    from retrieval.models import Dataset

                    async with db.session_scope() as session:
                        if await session.get(Dataset, dataset_id) is None:
                            raise NotFound("No such dataset or GPT")
                await embedder.load()
                model = embedder.model_id
                done = 0
                total = await chunks_to_reindex(db, model, dataset_id)
                if total:
                    with click.progressbar(
                        length=total, label=f"Re-embedding with {model}", file=sys.stderr
                    ) as bar:
                        done = await reindex_chunks(
                            db, settings, dataset_id=dataset_id, embedder=embedder, progress=bar.update
                        )
                if dataset_id is None:  # the store's semantic listing search uses the same model
                    async with db.session_scope() as session:
                        done += await reembed_listings(session, settings)
                return model, done
            finally:
                if hasattr(embedder, "aclose"):
                    await embedder.aclose()
                await db.dispose()

        try:
            model, done = asyncio.run(run())
        except AppError as exc:
            raise click.ClickException(exc.detail) from None
        except EmbeddingError as exc:
            raise click.ClickException(f"{exc}; run `gptstore reindex` again to continue") from None
        scope = f"dataset {dataset_id}" if dataset_id else "all knowledge"
        if done:
            click.echo(f"{done} chunks and listings re-embedded: {scope} now uses {model}")
        else:
            click.echo(f"Nothing to re-embed: {scope} already uses {model}")


@main.group()
def secrets() -> None:
    """Tool secrets (docs/tools.md, "Secrets and key rotation")."""


@secrets.command("reseal")
def reseal() -> None:
    """Re-encrypt every tool secret under the current secret key (after a rotation)."""
    from core.db import Database
    from core.secrets import SecretUnreadable
    from tools.secret_store import SecretStore

    with running_servers(get_settings()) as settings:
        _require_current_schema(settings)

        async def run() -> int:
            db = Database.from_settings(settings, settings.database_url)
            try:
                async with db.session_scope() as session:
                    return await SecretStore(session, settings).reseal_all()
            finally:
                await db.dispose()

        try:
            changed = asyncio.run(run())
        except SecretUnreadable as exc:
            raise click.ClickException(
                f"A secret cannot be opened ({exc}); list the key it was sealed with in "
                "GPTSTORE_PREVIOUS_SECRET_KEYS and run this again. Nothing was changed."
            ) from None
        click.echo(f"{changed} tool secrets re-encrypted under the current secret key")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
