"""What the commands do before their work: find or start the servers, check the schema, the port and
Redis, and turn wrong settings and unreachable servers into `Error: ...` lines (`Commands`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import click

from core.settings import Settings
from core.supervise import restart_delays


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
        delays = restart_delays(
            settings.embedded_restart_first_delay_seconds, settings.embedded_restart_attempts
        )
        servers.supervise(on_server_lost, delays)
    try:
        if servers is not None and servers.postgres and migrate_embedded:
            upgrade_schema(settings)
        yield settings
    finally:
        if servers is not None:
            servers.stop()


POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
CONNECTIONS_FOR_COMMANDS = 20  # CLI commands, a standalone worker, psql, superuser_reserved_connections


def embedded_max_connections(settings: Settings, processes: int) -> int:
    """PostgreSQL's `max_connections` for the embedded server: every app process's pool at its fullest
    (`db_pool_size + db_max_overflow`, and the search pool's `db_search_pool_size`) plus room for commands,
    and never below PostgreSQL's default."""
    pools = processes * (settings.db_pool_size + settings.db_max_overflow + settings.db_search_pool_size)
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


def require_redis(settings: Settings) -> None:
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


def _schema_state(settings: Settings) -> tuple[str, str | None]:
    from core import migrate
    from core.db import create_engine

    async def check() -> tuple[str, str | None]:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await migrate.schema_state(engine)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def refuse_a_newer_schema(settings: Settings, state: tuple[str, str | None] | None = None) -> None:
    """Refuse a database a newer version of gptstore migrated (ClickException naming its revision): this
    version's migrations cannot reach or undo a revision they do not know."""
    from core import migrate

    state, revision = state or _schema_state(settings)
    if state == "ahead":
        raise click.ClickException(
            f"The database schema is at revision {revision}, which this version of gptstore does not know: "
            f"a newer version of gptstore migrated it (this one ends at {migrate.head_revision()}). Run the "
            "newer version, or downgrade the database with it first."
        )


def upgrade_schema(settings: Settings) -> None:
    """Apply pending migrations (`migrate.upgrade`). A database a newer version of gptstore migrated ends
    alembic's upgrade in "Can't locate revision"; it is then refused naming its revision
    (`refuse_a_newer_schema`, ClickException). The schema is read only when the upgrade fails, not on
    every start."""
    from alembic.util import CommandError

    from core import migrate

    try:
        migrate.upgrade(settings.database_url)
    except CommandError:
        refuse_a_newer_schema(settings)
        raise


def require_current_schema(settings: Settings) -> None:
    """Refuse to start against a database whose schema is not this version's (ClickException): behind it,
    or migrated by a newer version (`refuse_a_newer_schema`)."""
    state = _schema_state(settings)
    refuse_a_newer_schema(settings, state)
    if state[0] == "behind":
        raise click.ClickException(
            "The database schema is behind this version of gptstore. Run `gptstore db upgrade` first."
        )


# The setting that names each server core.exhaustion reports unreachable at start-up.
_SERVER_SETTINGS = {"database": "GPTSTORE_DATABASE_URL", "object storage": "GPTSTORE_STORAGE_URL"}


class Commands(click.Group):
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
