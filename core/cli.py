"""The `gptstore` command: serve, worker, ingest, db, users, reindex, secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import click

from core.settings import Settings, get_settings
from core.startup import (
    Commands,
    check_port_free,
    require_current_schema,
    require_redis,
    running_servers,
    upgrade_schema,
)


class _Stopped(Exception):
    """Raised by our SIGINT/SIGTERM handler, which uvicorn re-raises after its graceful shutdown."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


PORT = click.IntRange(1, 65535)  # every port option: 99999 would otherwise listen on 99999 mod 65536


@click.group(cls=Commands)
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
            require_current_schema(settings)
        if not settings.embedded_redis:
            require_redis(settings)
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
        require_current_schema(settings)
        require_redis(settings)
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
        require_current_schema(settings)
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
        upgrade_schema(settings)
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
    from retrieval.reindex import chunks_to_reindex
    from retrieval.reindex import reindex as reindex_chunks
    from store.service import reembed_listings

    with running_servers(get_settings()) as settings:
        require_current_schema(settings)

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
        require_current_schema(settings)

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
