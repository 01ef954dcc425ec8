"""Settings, read once from the environment into a frozen dataclass.

Only the entry point calls `from_environ`; everything else receives a Settings. A missing or
malformed setting raises SettingsError with one line naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dispatcher.pools import DEFAULT_CONNECTIONS
from dispatcher.retry import DEFAULT_SCHEDULE
from receiver.errors import SettingsError
from receiver.providers import DEFAULT_BASE_URLS, DEFAULT_MAX_IN_FLIGHT, PROVIDER_NAMES
from receiver.settings.event_loop import default_loop, event_loop
from receiver.settings.inbound import inbound_secrets
from receiver.settings.notices import (
    alerts_secret,
    alerts_to,
    email_from,
    email_to,
    notify_on,
    smtp_url,
)
from receiver.settings.secret_keys import KeyStore, secret_keys
from receiver.settings.values import (
    bounded,
    comma_list,
    flag,
    host_ports,
    integer,
    optional_url,
    seconds,
    url,
)
from receiver.settings.videos import VideoSettings, is_local, videos_from_environ
from store.models import DatabaseTimeouts
from store.states import DEFAULT_NOTIFY_ON

__all__ = ["ProviderSettings", "Settings", "VideoSettings", "from_environ"]

MIN_TOKEN = 16  # characters: shorter bearer tokens are accepted with a warning at start
DEFAULT_SUBMIT_BYTES = 16 << 20  # room for a data: image
# A PiAPI callback echoes the task's input, a base64 image included: room for the largest submit.
CALLBACK_MARGIN_BYTES = 256 << 10
# A Standard Webhooks message is read whole before its signature can be checked: a small cap.
DEFAULT_INBOUND_BYTES = 256 << 10


@dataclass(frozen=True)
class ProviderSettings:
    """One provider's key and base URL."""

    api_key: str | None = field(repr=False)
    base_url: str


@dataclass(frozen=True)
class Settings:
    """Everything reelhook reads from its environment."""

    # Secrets (and URLs that may carry one) stay out of repr: a logged Settings shows none.
    api_tokens: tuple[str, ...] = field(repr=False)
    secret_key: bytes = field(repr=False)  # seals and signs: REELHOOK_SECRET_KEY's first key
    older_secret_keys: tuple[bytes, ...] = field(default=(), repr=False)  # still open and check
    secret_key_file: str | None = None  # the key was kept beside the SQLite file (local_key)
    database: str = field(default="./reelhook.db", repr=False)
    host: str = "0.0.0.0"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    public_url_given: bool = False  # REELHOOK_PUBLIC_URL was set (else a loopback default)
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    slack_webhook_url: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    notify_on: frozenset[str] = DEFAULT_NOTIFY_ON
    provider_timeout: float = 30.0
    provider_connections: int = DEFAULT_CONNECTIONS  # per provider, and for video downloads
    max_callback_bytes: int = DEFAULT_SUBMIT_BYTES + CALLBACK_MARGIN_BYTES
    max_submit_bytes: int = DEFAULT_SUBMIT_BYTES
    max_inbound_bytes: int = DEFAULT_INBOUND_BYTES  # read before its signature can be checked
    max_concurrent_callbacks: int = 256
    db_busy_timeout: float = 5.0
    allow_private_urls: bool = False
    # REELHOOK_TRUSTED_HOSTS: private hosts the operator lets user URLs reach (host, port)
    trusted_hosts: frozenset[tuple[str, int]] = frozenset()
    inbound_secrets: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    delivery_timeout: float = 10.0
    slack_min_interval: float = 1.0
    dispatch_interval: float = 1.0
    run_worker: bool = True
    poll_initial: float = 5.0
    poll_max_interval: float = 60.0
    task_deadline: float = 3600.0
    callback_grace: float = 120.0
    max_in_flight: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MAX_IN_FLIGHT))
    onemin_timeout: float = 900.0
    metrics_tokens: tuple[str, ...] = field(default=(), repr=False)
    # REELHOOK_READ_TOKENS: read the API and the dashboard
    read_tokens: tuple[str, ...] = field(default=(), repr=False)
    log_format: str = "text"
    log_level: str = "info"
    event_loop: str = field(default_factory=default_loop)
    db_pool_size: int = 10
    db_timeouts: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    # DIRECT_DATABASE_URL, beside a pooled DATABASE_URL
    direct_database: str | None = field(default=None, repr=False)
    web_concurrency: int = 1
    background: bool = True
    dyno: str | None = None
    videos: VideoSettings = field(default_factory=VideoSettings)
    keep_days: float | None = 90.0  # REELHOOK_KEEP_DAYS: events, attempts, inbound; None: forever
    # REELHOOK_ALERTS_TO as (channel, address), and the key that signs webhook alerts
    alerts_to: tuple[str, str] | None = field(default=None, repr=False)
    alerts_secret: str | None = field(default=None, repr=False)
    disable_after_days: float | None = 5.0  # REELHOOK_DISABLE_AFTER_DAYS; None: never
    sends_per_destination: int = 5  # REELHOOK_SENDS_PER_DESTINATION: a fair share of the worker

    def provider(self, name: str) -> ProviderSettings:
        """The settings of one provider (defaults when none were given)."""
        return self.providers.get(name) or ProviderSettings(None, DEFAULT_BASE_URLS[name])


def from_environ(
    env: Mapping[str, str], *, need_api_token: bool = True, key_store: KeyStore | None = None
) -> Settings:
    """Read and check every setting; SettingsError names the first bad one. Processes that
    serve no client API (`reelhook worker`) pass need_api_token=False. With `key_store` (the
    commands that run reelhook on a SQLite file), an unset REELHOOK_SECRET_KEY is taken from
    it, unless destinations are configured here."""
    port = integer(env, "PORT", 8080, 1, 65535)
    submit_bytes = integer(env, "REELHOOK_MAX_SUBMIT_BYTES", DEFAULT_SUBMIT_BYTES, 1024, 1 << 30)
    api_tokens = _tokens(env) if need_api_token or env.get("REELHOOK_API_TOKEN") else ()
    database = _database(env)
    (secret_key, *older_keys), key_file = secret_keys(env, database, key_store)
    return Settings(
        api_tokens=api_tokens,
        secret_key=secret_key,
        older_secret_keys=tuple(older_keys),
        secret_key_file=key_file,
        database=database,
        host=env.get("REELHOOK_HOST", "0.0.0.0"),
        port=port,
        public_url=_public_url(env, f"http://127.0.0.1:{port}"),
        public_url_given=bool(env.get("REELHOOK_PUBLIC_URL", "").strip()),
        providers={name: _provider(env, name) for name in PROVIDER_NAMES},
        slack_webhook_url=optional_url(env, "REELHOOK_SLACK_WEBHOOK_URL"),
        smtp_url=smtp_url(env),
        email_from=email_from(env),
        email_to=email_to(env),
        notify_on=notify_on(env),
        provider_timeout=seconds(env, "REELHOOK_PROVIDER_TIMEOUT", 30.0, 1.0, 3600.0),
        provider_connections=integer(env, "REELHOOK_PROVIDER_CONNECTIONS", DEFAULT_CONNECTIONS, 1,
                                  10_000),
        max_callback_bytes=integer(env, "REELHOOK_MAX_CALLBACK_BYTES",
                                   submit_bytes + CALLBACK_MARGIN_BYTES, 1024, 1 << 30),
        max_submit_bytes=submit_bytes,
        max_inbound_bytes=integer(env, "REELHOOK_MAX_INBOUND_BYTES", DEFAULT_INBOUND_BYTES,
                                  1024, 1 << 30),
        max_concurrent_callbacks=integer(env, "REELHOOK_MAX_CONCURRENT_CALLBACKS", 256, 1, 100_000),
        db_busy_timeout=seconds(env, "REELHOOK_DB_BUSY_TIMEOUT", 5.0, 0.01, 600.0),
        allow_private_urls=flag(env, "REELHOOK_ALLOW_PRIVATE_URLS", False),
        trusted_hosts=host_ports(env, "REELHOOK_TRUSTED_HOSTS"),
        inbound_secrets=inbound_secrets(env.get("REELHOOK_INBOUND_SECRETS", "")),
        retry_schedule=_schedule(env, "REELHOOK_RETRY_SCHEDULE"),
        delivery_timeout=seconds(env, "REELHOOK_DELIVERY_TIMEOUT", 10.0, 0.01, 300.0),
        slack_min_interval=seconds(env, "REELHOOK_SLACK_MIN_INTERVAL", 1.0, 0.0, 3600.0),
        dispatch_interval=seconds(env, "REELHOOK_DISPATCH_INTERVAL", 1.0, 0.01, 60.0),
        run_worker=flag(env, "REELHOOK_WORKER", True),
        poll_initial=seconds(env, "REELHOOK_POLL_INITIAL", 5.0, 0.01, 3600.0),
        poll_max_interval=seconds(env, "REELHOOK_POLL_MAX_INTERVAL", 60.0, 0.01, 86400.0),
        task_deadline=seconds(env, "REELHOOK_TASK_DEADLINE", 3600.0, 1.0, 7 * 86400.0),
        callback_grace=seconds(env, "REELHOOK_CALLBACK_GRACE", 120.0, 0.01, 86400.0),
        max_in_flight={
            name: integer(env, f"REELHOOK_{name.upper()}_MAX_IN_FLIGHT", default, 0, 10_000)
            for name, default in DEFAULT_MAX_IN_FLIGHT.items()
        },
        onemin_timeout=seconds(env, "REELHOOK_ONEMIN_TIMEOUT", 900.0, 1.0, 86400.0),
        metrics_tokens=_metrics_tokens(env),
        read_tokens=_header_safe(
            "REELHOOK_READ_TOKENS", comma_list(env.get("REELHOOK_READ_TOKENS", ""))
        ),
        log_format=log_format(env),
        log_level=log_level(env),
        event_loop=event_loop(env),
        db_pool_size=integer(env, "REELHOOK_DB_POOL_SIZE", 10, 1, 1000),
        direct_database=direct_database_from_environ(env),
        db_timeouts=DatabaseTimeouts(
            statement=seconds(env, "REELHOOK_DB_TIMEOUT", 5.0, 0.1, 3600.0),
            lock=seconds(env, "REELHOOK_DB_LOCK_TIMEOUT", 2.0, 0.01, 3600.0),
            idle_in_transaction=seconds(env, "REELHOOK_DB_IDLE_TIMEOUT", 30.0, 1.0, 86400.0),
        ),
        web_concurrency=integer(env, "WEB_CONCURRENCY", 1, 1, 256),
        background=flag(env, "REELHOOK_BACKGROUND", True),
        dyno=env.get("DYNO") or None,
        videos=videos_from_environ(env),
        keep_days=keep_days_from_environ(env),
        sends_per_destination=integer(env, "REELHOOK_SENDS_PER_DESTINATION", 5, 1, 1000),
        alerts_to=alerts_to(env),
        alerts_secret=alerts_secret(env),
        disable_after_days=bounded(
            env, "REELHOOK_DISABLE_AFTER_DAYS", 5.0, 0.0, 3650.0, float,
            "a number of days (0: never)", " days") or None,
    )


def keep_days_from_environ(env: Mapping[str, str]) -> float | None:
    """REELHOOK_KEEP_DAYS: how long events, attempts and inbound messages are kept (None:
    forever, from 0)."""
    days = bounded(env, "REELHOOK_KEEP_DAYS", 90.0, 0.0, 36500.0, float,
                    "a number of days (0: keep forever)", " days")
    return days or None


def database_from_environ(env: Mapping[str, str]) -> str:
    """The database setting alone (for `reelhook migrate`, which needs nothing else)."""
    return _database(env)


def direct_database_from_environ(env: Mapping[str, str]) -> str | None:
    """DIRECT_DATABASE_URL: a direct connection to PostgreSQL when DATABASE_URL leads to a
    transaction pooler (for LISTEN and migrations); None when unset."""
    url = env.get("DIRECT_DATABASE_URL", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.path.strip("/"):
        raise SettingsError("DIRECT_DATABASE_URL must be a PostgreSQL URL:"
                            " postgres://user:password@host:port/database")
    if not env.get("DATABASE_URL", "").strip():
        raise SettingsError("DIRECT_DATABASE_URL is set without DATABASE_URL: set DATABASE_URL"
                            " to the pooler's URL, or leave DIRECT_DATABASE_URL unset")
    return url


def _database(env: Mapping[str, str]) -> str:
    """DATABASE_URL (PostgreSQL) when set, else the SQLite file REELHOOK_DATABASE."""
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return env.get("REELHOOK_DATABASE", "").strip() or "./reelhook.db"
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.path.strip("/"):
        raise SettingsError(
            "DATABASE_URL must be a PostgreSQL URL: postgres://user:password@host:port/database"
        )
    return url


def disk_warning(settings: Settings) -> str | None:
    """A warning when the database is a local SQLite file on a host that wipes its disk (DYNO
    is set on Heroku-style platforms), or when with DATABASE_URL the videos are kept in a local
    folder; None otherwise."""
    videos = settings.videos.location(settings.database)
    if settings.database.startswith(("postgres://", "postgresql://")):
        if not is_local(videos):
            return None
        return (
            f"the videos are kept in a local folder ({videos}) while the database is PostgreSQL"
            " (DATABASE_URL): on a platform that wipes the disk they will be lost. Set"
            " REELHOOK_VIDEO_STORE to s3://bucket/prefix (or off to keep links only)."
        )
    if settings.dyno is None:
        return None
    return (
        f"the database is a local SQLite file ({settings.database}) on a platform that wipes the"
        " disk at every deploy and restart (DYNO is set): tasks, events and pending notices will"
        " be lost. Attach PostgreSQL and set DATABASE_URL."
    )


def _metrics_tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    return _header_safe("REELHOOK_METRICS_TOKEN", comma_list(env.get("REELHOOK_METRICS_TOKEN", "")))


def _header_safe(name: str, tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Bearer tokens travel in an Authorization header: printable ASCII, no spaces."""
    if any(not token.isascii() or not token.isprintable() or " " in token for token in tokens):
        raise SettingsError(f"{name}: each token must be printable ASCII without spaces")
    return tokens


def log_format(env: Mapping[str, str]) -> str:
    """REELHOOK_LOG_FORMAT: text (default) or json (one JSON object per line)."""
    value = (env.get("REELHOOK_LOG_FORMAT") or "text").strip().lower()
    if value not in ("text", "json"):
        raise SettingsError(f"REELHOOK_LOG_FORMAT must be text or json; got {value!r}")
    return value


LOG_LEVELS = ("debug", "info", "warning", "error")


def log_level(env: Mapping[str, str]) -> str:
    """REELHOOK_LOG_LEVEL: info (default), or debug (a line per notice attempt), warning, error."""
    value = (env.get("REELHOOK_LOG_LEVEL") or "info").strip().lower()
    if value not in LOG_LEVELS:
        raise SettingsError(f"REELHOOK_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)};"
                            f" got {value!r}")
    return value


def _tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    tokens = comma_list(env.get("REELHOOK_API_TOKEN", ""))
    if not tokens:
        raise SettingsError("REELHOOK_API_TOKEN is required: the bearer token clients must send")
    return _header_safe("REELHOOK_API_TOKEN", tokens)


def _provider(env: Mapping[str, str], name: str) -> ProviderSettings:
    prefix = name.upper()
    base = url(env, f"{prefix}_BASE_URL", DEFAULT_BASE_URLS[name]).rstrip("/")
    return ProviderSettings(api_key=env.get(f"{prefix}_API_KEY") or None, base_url=base)


def _public_url(env: Mapping[str, str], default: str) -> str:
    """The base of callback addresses: anything after it (a query, a fragment) or in it (user
    info, spaces) would make every callback address wrong, so it is refused."""
    name = "REELHOOK_PUBLIC_URL"
    value = url(env, name, default)
    parts = urlsplit(value)
    if any(not char.isprintable() or char.isspace() for char in value):
        raise SettingsError(f"{name} must not contain spaces or control characters")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise SettingsError(f"{name} must be a base URL without a query or fragment ('?', '#')")
    if "@" in parts.netloc:
        raise SettingsError(f"{name} must not contain user-info (user:password@)")
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise SettingsError(f"{name} has a malformed port") from None
    return value.rstrip("/")


def unsigned_alerts_warning(settings: Settings) -> str | None:
    """A warning when webhook alerts go out signed with a key their receiver cannot know
    (REELHOOK_ALERTS_SECRET unset); None otherwise."""
    if settings.alerts_to is None or settings.alerts_to[0] != "webhook" or settings.alerts_secret:
        return None
    return ("REELHOOK_ALERTS_SECRET is unset: webhook alerts are signed with a key made from"
            " REELHOOK_SECRET_KEY, which their receiver cannot check; set it to a Standard"
            " Webhooks key (whsec_ and base64 of 24 to 64 random bytes) and give the receiver"
            " the same")


def short_token_warning(settings: Settings) -> str | None:
    """A warning when an API or metrics token is shorter than 16 characters (easy to guess);
    None otherwise."""
    tokens = (*settings.api_tokens, *settings.metrics_tokens, *settings.read_tokens)
    if all(len(token) >= MIN_TOKEN for token in tokens):
        return None
    return (
        f"a token in REELHOOK_API_TOKEN, REELHOOK_METRICS_TOKEN or REELHOOK_READ_TOKENS is"
        f" shorter than {MIN_TOKEN}"
        " characters and easy to guess; use a long random one (python -c 'import secrets;"
        " print(secrets.token_urlsafe(32))')"
    )


def _schedule(env: Mapping[str, str], name: str) -> tuple[float, ...]:
    """Waits in seconds between a notice's attempts."""
    raw = env.get(name)
    if not raw:
        return DEFAULT_SCHEDULE
    try:
        waits = tuple(float(part) for part in comma_list(raw))
    except ValueError:
        waits = ()
    if not waits or len(waits) > 50 or any(not 0 <= wait <= 7 * 86400 for wait in waits):
        raise SettingsError(
            f"{name} takes comma-separated waits in seconds between attempts (at most 50,"
            " each 0 to 604800), e.g. 5,300,1800"
        )
    return waits
