"""Settings, read once from the environment into a frozen dataclass.

Only the entry point calls `from_environ`; everything else receives a Settings. A missing or
malformed setting raises SettingsError with one line naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import urlsplit

from dispatcher.pools import DEFAULT_CONNECTIONS
from dispatcher.retry import DEFAULT_SCHEDULE
from dispatcher.whsec import WHSEC_RULE, is_whsec_key
from receiver.errors import SettingsError
from receiver.providers import DEFAULT_BASE_URLS, DEFAULT_MAX_IN_FLIGHT, PROVIDER_NAMES
from receiver.runtime.event_loops import LOOPS, default_loop
from receiver.runtime.local_key import is_fernet_key, key_file_of
from receiver.services.videos.locations import CLOUD_SCHEMES
from receiver.services.videos.locations import OFF as VIDEO_STORE_OFF
from receiver.services.videos.locations import default_location as default_video_location
from receiver.services.videos.locations import is_local as is_local_video_store
from store.models import DatabaseTimeouts
from store.opening import is_postgres
from store.states import DEFAULT_NOTIFY_ON, STATES

MIN_TOKEN = 16  # characters: shorter bearer tokens are accepted with a warning at start
# Settings that store destinations (sealed with REELHOOK_SECRET_KEY): with one of them, the key
# must be given, never made on the spot.
DESTINATION_SETTINGS = ("REELHOOK_SLACK_WEBHOOK_URL", "REELHOOK_EMAIL_TO", "REELHOOK_ALERTS_TO")


@dataclass(frozen=True)
class ProviderSettings:
    """One provider's key and base URL."""

    api_key: str | None = field(repr=False)
    base_url: str


@dataclass(frozen=True)
class VideoSettings:
    """Kept videos: where they go (REELHOOK_VIDEO_STORE: a folder, a cloud URL, or off; empty:
    the default for the database) and how the copies are made, served and kept."""

    store: str = ""
    store_options: Mapping[str, str] = field(default_factory=dict, repr=False)  # AWS_* and kin
    wait: float = 60.0  # longest a succeeded task's notices wait for the copy
    max_bytes: int = 2 << 30
    timeout: float = 1800.0  # longest one copy may take
    link_lifetime: float = 7 * 86400.0
    keep_days: float | None = None  # None: forever

    def location(self, database: str) -> str:
        """Where the videos go: the setting, or beside the SQLite file (a folder in the working
        directory with DATABASE_URL); "off" keeps links only."""
        return self.store or default_video_location(database)

    def kept(self, database: str) -> bool:
        """Whether videos are kept at all."""
        return self.location(database) != VIDEO_STORE_OFF


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
    max_callback_bytes: int = 256 * 1024
    max_submit_bytes: int = 16 * 1024 * 1024
    max_concurrent_callbacks: int = 256
    db_busy_timeout: float = 5.0
    allow_private_urls: bool = False
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


KeyStore = Callable[[str], bytes]  # a SQLite database's path -> the key kept beside it


def from_environ(
    env: Mapping[str, str], *, need_api_token: bool = True, key_store: KeyStore | None = None
) -> Settings:
    """Read and check every setting; SettingsError names the first bad one. Processes that
    serve no client API (`reelhook worker`) pass need_api_token=False. With `key_store` (the
    commands that run reelhook on a SQLite file), an unset REELHOOK_SECRET_KEY is taken from
    it, unless destinations are configured here."""
    port = _int(env, "PORT", 8080, 1, 65535)
    api_tokens = _tokens(env) if need_api_token or env.get("REELHOOK_API_TOKEN") else ()
    database = _database(env)
    (secret_key, *older_keys), key_file = _secret_keys(env, database, key_store)
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
        slack_webhook_url=_optional_url(env, "REELHOOK_SLACK_WEBHOOK_URL"),
        smtp_url=_smtp_url(env),
        email_from=_email_from(env),
        email_to=_email_to(env),
        notify_on=_notify_on(env),
        provider_timeout=_seconds(env, "REELHOOK_PROVIDER_TIMEOUT", 30.0, 1.0, 3600.0),
        provider_connections=_int(env, "REELHOOK_PROVIDER_CONNECTIONS", DEFAULT_CONNECTIONS, 1,
                                  10_000),
        max_callback_bytes=_int(env, "REELHOOK_MAX_CALLBACK_BYTES", 256 * 1024, 1024, 1 << 30),
        max_submit_bytes=_int(env, "REELHOOK_MAX_SUBMIT_BYTES", 16 << 20, 1024, 1 << 30),
        max_concurrent_callbacks=_int(env, "REELHOOK_MAX_CONCURRENT_CALLBACKS", 256, 1, 100_000),
        db_busy_timeout=_seconds(env, "REELHOOK_DB_BUSY_TIMEOUT", 5.0, 0.01, 600.0),
        allow_private_urls=_flag(env, "REELHOOK_ALLOW_PRIVATE_URLS", False),
        inbound_secrets=_inbound_secrets(env.get("REELHOOK_INBOUND_SECRETS", "")),
        retry_schedule=_schedule(env, "REELHOOK_RETRY_SCHEDULE"),
        delivery_timeout=_seconds(env, "REELHOOK_DELIVERY_TIMEOUT", 10.0, 0.01, 300.0),
        slack_min_interval=_seconds(env, "REELHOOK_SLACK_MIN_INTERVAL", 1.0, 0.0, 3600.0),
        dispatch_interval=_seconds(env, "REELHOOK_DISPATCH_INTERVAL", 1.0, 0.01, 60.0),
        run_worker=_flag(env, "REELHOOK_WORKER", True),
        poll_initial=_seconds(env, "REELHOOK_POLL_INITIAL", 5.0, 0.01, 3600.0),
        poll_max_interval=_seconds(env, "REELHOOK_POLL_MAX_INTERVAL", 60.0, 0.01, 86400.0),
        task_deadline=_seconds(env, "REELHOOK_TASK_DEADLINE", 3600.0, 1.0, 7 * 86400.0),
        callback_grace=_seconds(env, "REELHOOK_CALLBACK_GRACE", 120.0, 0.01, 86400.0),
        max_in_flight={
            name: _int(env, f"REELHOOK_{name.upper()}_MAX_IN_FLIGHT", default, 0, 10_000)
            for name, default in DEFAULT_MAX_IN_FLIGHT.items()
        },
        onemin_timeout=_seconds(env, "REELHOOK_ONEMIN_TIMEOUT", 900.0, 1.0, 86400.0),
        metrics_tokens=_metrics_tokens(env),
        read_tokens=_header_safe(
            "REELHOOK_READ_TOKENS", _list(env.get("REELHOOK_READ_TOKENS", ""))
        ),
        log_format=log_format(env),
        log_level=log_level(env),
        event_loop=_event_loop(env),
        db_pool_size=_int(env, "REELHOOK_DB_POOL_SIZE", 10, 1, 1000),
        direct_database=direct_database_from_environ(env),
        db_timeouts=DatabaseTimeouts(
            statement=_seconds(env, "REELHOOK_DB_TIMEOUT", 5.0, 0.1, 3600.0),
            lock=_seconds(env, "REELHOOK_DB_LOCK_TIMEOUT", 2.0, 0.01, 3600.0),
            idle_in_transaction=_seconds(env, "REELHOOK_DB_IDLE_TIMEOUT", 30.0, 1.0, 86400.0),
        ),
        web_concurrency=_int(env, "WEB_CONCURRENCY", 1, 1, 256),
        background=_flag(env, "REELHOOK_BACKGROUND", True),
        dyno=env.get("DYNO") or None,
        videos=_videos(env),
        keep_days=keep_days_from_environ(env),
        sends_per_destination=_int(env, "REELHOOK_SENDS_PER_DESTINATION", 5, 1, 1000),
        alerts_to=_alerts_to(env),
        alerts_secret=_alerts_secret(env),
        disable_after_days=_bounded(
            env, "REELHOOK_DISABLE_AFTER_DAYS", 5.0, 0.0, 3650.0, float,
            "a number of days (0: never)", " days") or None,
    )


# AWS_* settings of an S3-compatible video store, as obstore names them.
_AWS_OPTIONS = {
    "AWS_ENDPOINT_URL": "endpoint", "AWS_ENDPOINT": "endpoint", "AWS_REGION": "region",
    "AWS_DEFAULT_REGION": "region", "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key", "AWS_SESSION_TOKEN": "session_token",
}


def _videos(env: Mapping[str, str]) -> VideoSettings:
    keep_days = _bounded(
        env, "REELHOOK_VIDEO_KEEP_DAYS", 0.0, 0.0, 36500.0, float, "a number of days", " days"
    )
    options = {ours: env[name] for name, ours in _AWS_OPTIONS.items() if env.get(name)}
    if _flag(env, "AWS_ALLOW_HTTP", False):
        options["allow_http"] = "true"
    return VideoSettings(
        store=_video_store(env.get("REELHOOK_VIDEO_STORE", "").strip()),
        store_options=options,
        wait=_seconds(env, "REELHOOK_VIDEO_WAIT", 60.0, 0.0, 3600.0),
        max_bytes=_int(env, "REELHOOK_VIDEO_MAX_BYTES", 2 << 30, 1024, 1 << 40),
        timeout=_seconds(env, "REELHOOK_VIDEO_TIMEOUT", 1800.0, 1.0, 86400.0),
        link_lifetime=_seconds(env, "REELHOOK_VIDEO_LINK_LIFETIME", 7 * 86400.0, 60.0,
                               366 * 86400.0),
        keep_days=keep_days or None,
    )


def _video_store(value: str) -> str:
    """REELHOOK_VIDEO_STORE: off, a cloud URL with a bucket, or a folder (a path or file://)."""
    if value.lower() == VIDEO_STORE_OFF:
        return VIDEO_STORE_OFF
    scheme = urlsplit(value).scheme.lower()
    if value.startswith(CLOUD_SCHEMES):
        if not urlsplit(value).netloc:
            raise SettingsError(f"REELHOOK_VIDEO_STORE must name a bucket: {scheme}://bucket/prefix")
        return value
    if scheme and scheme != "file" and len(scheme) > 1:
        raise SettingsError(
            f"REELHOOK_VIDEO_STORE must be a folder, s3://bucket/prefix, gs://bucket, az://"
            f"container, or off; got a {scheme}:// URL"
        )
    return value


ALERT_CHANNELS = ("slack", "webhook", "email")


def _alerts_to(env: Mapping[str, str]) -> tuple[str, str] | None:
    """REELHOOK_ALERTS_TO: `slack:URL`, `webhook:URL`, `email:ADDRESS`, or the address alone
    (an email address; a hooks.slack.com URL is Slack, any other URL a webhook)."""
    raw = env.get("REELHOOK_ALERTS_TO", "").strip()
    if not raw:
        return None
    named, _, rest = raw.partition(":")
    channel, address = (named, rest.strip()) if named in ALERT_CHANNELS else ("", raw)
    if address.startswith("mailto:"):
        channel, address = "email", address.removeprefix("mailto:")
    if not channel:
        host = urlsplit(address).hostname or ""
        channel = ("email" if "://" not in address else
                   "slack" if host == "hooks.slack.com" else "webhook")
    rule = "REELHOOK_ALERTS_TO must be slack:URL, webhook:URL, email:ADDRESS or one of those alone"
    if channel == "email":
        if "@" not in address or any(c in address for c in "\r\n<>, "):
            raise SettingsError(f"{rule}; got an email address that is not one")
        if not env.get("REELHOOK_SMTP_URL"):
            raise SettingsError("REELHOOK_ALERTS_TO by email needs REELHOOK_SMTP_URL")
    elif urlsplit(address).scheme not in ("http", "https") or not urlsplit(address).hostname:
        raise SettingsError(f"{rule}; the URL must be http(s)")
    if channel == "webhook" and not env.get("REELHOOK_ALERTS_SECRET"):
        raise SettingsError("REELHOOK_ALERTS_SECRET is required with webhook alerts: the"
                            " whsec_ key that signs them (Standard Webhooks)")
    return channel, address


def _alerts_secret(env: Mapping[str, str]) -> str | None:
    secret = env.get("REELHOOK_ALERTS_SECRET", "").strip()
    if secret and not is_whsec_key(secret):
        raise SettingsError(f"REELHOOK_ALERTS_SECRET must be {WHSEC_RULE}")
    return secret or None


def keep_days_from_environ(env: Mapping[str, str]) -> float | None:
    """REELHOOK_KEEP_DAYS: how long events, attempts and inbound messages are kept (None:
    forever, from 0)."""
    days = _bounded(env, "REELHOOK_KEEP_DAYS", 90.0, 0.0, 36500.0, float,
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
        if not is_local_video_store(videos):
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
    return _header_safe("REELHOOK_METRICS_TOKEN", _list(env.get("REELHOOK_METRICS_TOKEN", "")))


def _header_safe(name: str, tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Bearer tokens travel in an Authorization header: printable ASCII, no spaces."""
    if any(not token.isascii() or not token.isprintable() or " " in token for token in tokens):
        raise SettingsError(f"{name}: each token must be printable ASCII without spaces")
    return tokens


def _event_loop(env: Mapping[str, str]) -> str:
    """REELHOOK_EVENT_LOOP: uvloop (the default where installed) or asyncio."""
    installed = default_loop()
    value = (env.get("REELHOOK_EVENT_LOOP") or installed).strip().lower()
    if value not in LOOPS:
        raise SettingsError(f"REELHOOK_EVENT_LOOP must be one of {', '.join(LOOPS)}; got {value!r}")
    if value != "asyncio" and installed != value:
        raise SettingsError(f"REELHOOK_EVENT_LOOP={value} but {value} is not installed here;"
                            " install it or set REELHOOK_EVENT_LOOP=asyncio")
    return value


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
    tokens = _list(env.get("REELHOOK_API_TOKEN", ""))
    if not tokens:
        raise SettingsError("REELHOOK_API_TOKEN is required: the bearer token clients must send")
    return _header_safe("REELHOOK_API_TOKEN", tokens)


def _secret_keys(
    env: Mapping[str, str], database: str, key_store: KeyStore | None
) -> tuple[tuple[bytes, ...], str | None]:
    """The keys (the first seals; any after it, during a rotation, still open) and, when the
    key came from beside the SQLite file, that file's path."""
    hint = "make one with: reelhook keygen"
    raw = env.get("REELHOOK_SECRET_KEY", "").strip()
    if not raw:
        configured = [name for name in DESTINATION_SETTINGS if env.get(name, "").strip()]
        if configured:
            raise SettingsError(
                f"REELHOOK_SECRET_KEY is required with {configured[0]} (destinations are"
                f" stored encrypted with it); {hint}"
            )
        if key_store is None or is_postgres(database):
            raise SettingsError(f"REELHOOK_SECRET_KEY is required (a Fernet key); {hint}")
        return (key_store(database),), key_file_of(database)
    keys = _list(raw)
    for position, key in enumerate(keys, start=1):
        if not is_fernet_key(key):
            which = "" if len(keys) == 1 else f"key {position} of {len(keys)} in "
            raise SettingsError(
                f"{which}REELHOOK_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes);"
                f" {hint} (to rotate: the new key first, the old after it, comma-separated)"
            )
    if len(set(keys)) != len(keys):
        raise SettingsError("REELHOOK_SECRET_KEY lists one key twice")
    return tuple(key.encode() for key in keys), None


def _provider(env: Mapping[str, str], name: str) -> ProviderSettings:
    prefix = name.upper()
    base = _url(env, f"{prefix}_BASE_URL", DEFAULT_BASE_URLS[name]).rstrip("/")
    return ProviderSettings(api_key=env.get(f"{prefix}_API_KEY") or None, base_url=base)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return int(_bounded(env, name, default, low, high, int, "a whole number", ""))


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The value itself is never echoed: a webhook URL is a secret.
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise SettingsError(f"{name} must be an http(s) URL with a host; got {shown}")
    return value


def _public_url(env: Mapping[str, str], default: str) -> str:
    """The base of callback addresses: anything after it (a query, a fragment) or in it (user
    info, spaces) would make every callback address wrong, so it is refused."""
    name = "REELHOOK_PUBLIC_URL"
    value = _url(env, name, default)
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


def _optional_url(env: Mapping[str, str], name: str) -> str | None:
    return _url(env, name, "") if env.get(name) else None


def _smtp_url(env: Mapping[str, str]) -> str | None:
    value = env.get("REELHOOK_SMTP_URL")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(
            "REELHOOK_SMTP_URL must look like smtp://user:pass@host:port or smtps://..."
        )
    return value


def _notify_on(env: Mapping[str, str]) -> frozenset[str]:
    states = _list(env.get("REELHOOK_NOTIFY_ON", ",".join(sorted(DEFAULT_NOTIFY_ON))))
    unknown = [state for state in states if state not in STATES]
    if unknown or not states:
        raise SettingsError(
            f"REELHOOK_NOTIFY_ON takes a comma-separated list of {', '.join(STATES)}"
        )
    return frozenset(states)


def _email_from(env: Mapping[str, str]) -> str | None:
    """REELHOOK_EMAIL_FROM: an address, with or without a display name ("reelhook <a@b.c>")."""
    value = env.get("REELHOOK_EMAIL_FROM", "").strip()
    if not value:
        return None
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(c in value for c in "\r\n"):
        raise SettingsError(
            "REELHOOK_EMAIL_FROM must be an email address such as reelhook@example.com"
            " or 'reelhook <reelhook@example.com>'"
        )
    return value


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


def _email_to(env: Mapping[str, str]) -> tuple[str, ...]:
    recipients = _list(env.get("REELHOOK_EMAIL_TO", ""))
    if env.get("REELHOOK_SMTP_URL") and not env.get("REELHOOK_EMAIL_FROM"):
        raise SettingsError("REELHOOK_EMAIL_FROM is required with REELHOOK_SMTP_URL (the sender)")
    if recipients and not env.get("REELHOOK_SMTP_URL"):
        raise SettingsError("REELHOOK_EMAIL_TO needs REELHOOK_SMTP_URL (the server to send with)")
    if any("@" not in address or any(c in address for c in "\r\n<>") for address in recipients):
        raise SettingsError("REELHOOK_EMAIL_TO takes comma-separated email addresses")
    return recipients


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _bounded(env, name, default, low, high, float, "a number of seconds", " seconds")


def _bounded(
    env: Mapping[str, str],
    name: str,
    default: float,
    low: float,
    high: float,
    parse: Callable[[str], float],
    kind: str,
    unit: str,
) -> float:
    """The setting parsed and checked against [low, high]; the default when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}; got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {low:g} to {high:g}{unit}; got {raw}")
    return value


def _schedule(env: Mapping[str, str], name: str) -> tuple[float, ...]:
    raw = env.get(name)
    if not raw:
        return Settings.retry_schedule
    try:
        waits = tuple(float(part) for part in _list(raw))
    except ValueError:
        waits = ()
    if not waits or len(waits) > 50 or any(not 0 <= wait <= 7 * 86400 for wait in waits):
        raise SettingsError(
            f"{name} takes comma-separated waits in seconds between attempts (at most 50,"
            " each 0 to 604800), e.g. 5,300,1800"
        )
    return waits


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off", "true", "false", "1", "0"):
        raise SettingsError(f"{name} must be on or off; got {raw!r}")
    return raw in ("on", "true", "1")


# A Standard Webhooks source's name, in REELHOOK_INBOUND_SECRETS and in GET /v1/inbound?source=.
INBOUND_SOURCE = re.compile(r"[a-z0-9_-]{1,64}")
INBOUND_SOURCE_RULE = "1 to 64 lower-case letters, digits, - or _"


def _inbound_secrets(raw: str) -> dict[str, tuple[str, ...]]:
    """source:whsec_... pairs; a source named twice accepts both secrets (rotation)."""
    found: dict[str, tuple[str, ...]] = {}
    for pair in _list(raw):
        source, _, secret = pair.partition(":")
        if not INBOUND_SOURCE.fullmatch(source) or not is_whsec_key(secret):
            raise SettingsError(
                "REELHOOK_INBOUND_SECRETS takes comma-separated source:secret pairs; source is"
                f" {INBOUND_SOURCE_RULE}; the secret is {WHSEC_RULE}"
            )
        found[source] = (*found.get(source, ()), secret)
    return found


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
