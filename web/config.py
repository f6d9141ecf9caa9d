"""Configuration from environment variables, so one image runs anywhere."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The local files: the default SQLite database, `make run`'s secret key, the embedded Redis
# socket. DOSSIER_INSTANCE_DIR puts them elsewhere (bench/footprint.py runs a `make run` of its
# own next to yours; a container keeps them on a volume).
INSTANCE_DIR = Path(os.environ.get("DOSSIER_INSTANCE_DIR") or PROJECT_ROOT / "instance")

# Keys that must never protect a real installation.
INSECURE_KEYS = {"", "dev", "change-me", "changeme", "secret", "dossier-dev-key"}
DEV_SECRET_KEY = "dossier-dev-key"


class ConfigError(RuntimeError):
    """Raised when the app would start in an unsafe or broken configuration."""


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _list(name: str) -> list[str]:
    """A comma-separated variable as a list, blanks dropped."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _instance_secret_key() -> str:
    """The key `make run` generated into instance/secret_key, so local CLI commands
    (`flask --app wsgi db check`) work without exporting it; the environment wins."""
    path = INSTANCE_DIR / "secret_key"
    return path.read_text().strip() if path.is_file() else ""


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def from_environment(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment, then apply overrides."""
    overrides = overrides or {}
    base_url = os.environ.get("BASE_URL", "http://localhost:5000").rstrip("/")
    default_db = f"sqlite:///{INSTANCE_DIR / 'dossier.sqlite3'}"
    config: dict = {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _instance_secret_key(),
        # Dossier link keys, newest first (models/services/dossier.py): links are signed with
        # the first and open under any listed one. Empty: SECRET_KEY signs them, as before.
        "DOSSIER_LINK_KEYS": _list("DOSSIER_LINK_KEYS"),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        ),
        # Pre-ping: a pooled connection is checked before each checkout (a round trip, on
        # loopback some 0.1 ms), so after a database restart or failover the first request
        # gets a fresh connection instead of failing on a dead one; while the database is
        # down, requests answer 503 (web/errors.py). Recycling avoids idle timeouts.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_recycle": 1800},
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "BASE_URL": base_url,
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "localhost"),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS"),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL"),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "dossier@localhost"),
        # Mail sync from the business's IMAP mailbox (issue 21): the key that encrypts its
        # password, a private CA to trust (tests, a self-signed server), and the schedule.
        "MAILBOX_KEY": os.environ.get("MAILBOX_KEY", ""),
        "MAILBOX_CA_FILE": os.environ.get("MAILBOX_CA_FILE", ""),
        "MAIL_SYNC_SECONDS": _int("MAIL_SYNC_SECONDS", 120),
        "MAIL_SYNC_BATCH": _int("MAIL_SYNC_BATCH", 100),
        "MAIL_SYNC_TIMEOUT": _int("MAIL_SYNC_TIMEOUT", 20),
        "MAIL_ATTACHMENT_MAX_BYTES": _int("MAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        "MAIL_TIMEOUT": _int("MAIL_TIMEOUT", 10),
        # Waits between delivery attempts after a temporary failure; then the row fails.
        "MAIL_RETRY_DELAYS": [10, 30, 60, 300, 900, 3600, 10800],
        "OUTBOX_FLUSH_SECONDS": _int("OUTBOX_FLUSH_SECONDS", 30),
        # Outbound webhooks (models.services.webhooks): waits between attempts after a
        # failure, doubling to a day, in all some 3 days; then the delivery fails.
        "WEBHOOK_RETRY_DELAYS": [60, 300, 900, 3600, 10800, 21600, 43200, 86400, 86400],
        "WEBHOOK_TIMEOUT": _int("WEBHOOK_TIMEOUT", 10),  # seconds, to connect and for each read
        # Development and tests only: http:// and loopback or private receivers.
        "WEBHOOKS_ALLOW_HTTP": _bool("WEBHOOKS_ALLOW_HTTP"),
        # A receiver on the business's own network (private addresses), still over https.
        "WEBHOOKS_ALLOW_PRIVATE": _bool("WEBHOOKS_ALLOW_PRIVATE"),
        # The worker's daily run of automatic reminders, at this time of the business's day.
        "DUNNING_AT": os.environ.get("DUNNING_AT", "08:00"),
        # Sessions: server-side invalidation lives in web.auth; these are the cookie rules.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "dossier_session",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # The cookie's expiry is the absolute limit; re-signing it on every response
        # would only cost time (the idle clock is refreshed by web.auth every 30 s).
        "SESSION_REFRESH_EACH_REQUEST": False,
        "STAFF_IDLE_TIMEOUT": timedelta(minutes=_int("STAFF_IDLE_MINUTES", 30)),
        "STAFF_ABSOLUTE_TIMEOUT": timedelta(hours=12),
        "PORTAL_IDLE_TIMEOUT": timedelta(minutes=_int("PORTAL_IDLE_MINUTES", 60)),
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
        # A CSV import's upload (admin/imports.py raises the limit for that one form).
        "IMPORT_MAX_BYTES": _int("IMPORT_MAX_MB", 64) * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("TIMEZONE", "Europe/Amsterdam"),
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
        "LANGUAGES": ("en", "nl", "de"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI")
        or os.environ.get("REDIS_URL")
        or "memory://",
        # Redis down must not fail a request: limits fall back to this process's memory
        # (Flask-Limiter logs it), and any other storage error is logged and let through.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "LOGIN_LIMIT_PER_IP": os.environ.get("LOGIN_LIMIT_PER_IP", "20 per minute"),
        "LOGIN_LIMIT_PER_ACCOUNT": os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5 per minute"),
        "DOSSIER_LIMIT_PER_IP": os.environ.get("DOSSIER_LIMIT_PER_IP", "60 per minute"),
        # Requests per REST API key (api/): an accounting package syncing in bulk.
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "600 per minute"),
        # PDF letters rendered per staff member (WeasyPrint is heavy).
        "LETTER_PDF_LIMIT": os.environ.get("LETTER_PDF_LIMIT", "30 per minute"),
        # Wrong answers to one link's postal-code / customer-number check, from any address.
        "DOSSIER_CHECK_LIMIT_PER_LINK": os.environ.get("DOSSIER_CHECK_LIMIT_PER_LINK", "10 per hour"),
        "PASSWORD_HASH_PROFILE": os.environ.get("PASSWORD_HASH_PROFILE", "rfc9106-low-memory"),
        # JSON lines on stderr (web/logs.py); INFO shows one access line per request.
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        # The built-in test provider lets a debtor mark invoices paid without paying: only
        # when switched on explicitly (`make run` and the tests do), never inferred.
        "PAYMENTS_TEST_PROVIDER": _bool("PAYMENTS_TEST_PROVIDER"),
        # Behind a TLS proxy: how many proxies' X-Forwarded-For / -Proto to trust (ProxyFix),
        # so rate limits key on the visitor's address, not the proxy's.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Payment providers (models/services/providers): a provider without its keys is never offered.
        "MOLLIE_API_KEY": os.environ.get("MOLLIE_API_KEY", ""),
        "MOLLIE_API_ENDPOINT": os.environ.get("MOLLIE_API_ENDPOINT", ""),  # empty: Mollie's own
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", ""),  # empty: Stripe's own
        # /metrics (web/metrics.py) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset: 404.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
    }
    config.update(overrides)
    https = urlsplit(config["BASE_URL"]).scheme == "https"
    if "SESSION_COOKIE_SECURE" not in overrides:
        config["SESSION_COOKIE_SECURE"] = https
    if "SESSION_COOKIE_NAME" not in overrides and config["SESSION_COOKIE_SECURE"]:
        # Over https: only this host, over TLS, may set it (no subdomain can plant one).
        config["SESSION_COOKIE_NAME"] = "__Host-" + config["SESSION_COOKIE_NAME"]
    config.setdefault("HSTS", https)
    return config


# Flask CLI options that take a value (the command is the first word that is neither).
_CLI_VALUE_OPTIONS = {"--app", "-A", "--env-file", "-e"}


def cli_command(argv: list[str]) -> str | None:
    """The command of a `flask …` invocation (e.g. "db" for `flask --app wsgi db check`),
    or None when this process is not the Flask CLI (gunicorn, tests)."""
    if not argv or Path(argv[0]).name != "flask":
        return None
    args = iter(argv[1:])
    for arg in args:
        if arg in _CLI_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def check_secret_key(config: dict, *, debug: bool, argv: list[str] | None = None) -> None:
    """Refuse to run a real installation with a missing or well-known key.

    `flask db …` only reads and writes the schema and signs nothing, so it runs without a
    key (an operator checks or upgrades the database before configuring the app); it gets
    a random throw-away key, never a known one.
    """
    if config.get("TESTING") or debug:
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = DEV_SECRET_KEY
        return
    weak = [k for k in config.get("DOSSIER_LINK_KEYS") or [] if k.lower() in INSECURE_KEYS or len(k) < 16]
    if weak and cli_command(sys.argv if argv is None else argv) != "db":
        raise ConfigError(
            "DOSSIER_LINK_KEYS holds a key that is too short or well known. Each key must be a "
            "long random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    key = config.get("SECRET_KEY") or ""
    if key.strip().lower() in INSECURE_KEYS or len(key) < 16:
        if cli_command(sys.argv if argv is None else argv) == "db":
            config["SECRET_KEY"] = secrets.token_urlsafe(48)
            return
        raise ConfigError(
            "SECRET_KEY is missing or insecure. Set SECRET_KEY to a long random value, "
            "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
