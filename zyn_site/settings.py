"""Settings come from the environment; the defaults run the embedded SQLite + in-memory channel layer."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-debug-only-key-set-DJANGO_SECRET_KEY-in-production"

# Never "*": AllowedHostsOriginValidator trusts every origin when ALLOWED_HOSTS contains "*".
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()
]
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list host names; '*' would disable origin checks.")
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "sessions_app",
    "drf_spectacular_sidecar",  # Swagger UI assets (static files only) for /api/v1/docs
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sessions_app.web.content_security.ContentSecurityPolicyMiddleware",  # every page, errors included
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "sessions_app.web.form_encoding.Utf8FormMiddleware",  # after auth and messages: its 400 page uses them
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "zyn_site.urls"
WSGI_APPLICATION = "zyn_site.wsgi.application"
ASGI_APPLICATION = "zyn_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# PostgreSQL: the Session API's hand-written statements (sessions_app/services.py) are prepared once per
# pooled connection and bound server-side. Set 0 behind a transaction-pooling PgBouncer older than 1.21,
# which cannot carry prepared statements from one transaction to the next.
ZYN_DB_PREPARE = env_bool("ZYN_DB_PREPARE", True)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
        # Under daphne every request and every database_sync_to_async call may run on a different
        # thread, so persistent per-thread connections (CONN_MAX_AGE) pile up to one per thread.
        # A psycopg pool hands connections back at the end of each request/call instead.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # While the server is unreachable every request waits for the pool's timeout and then answers 503
        # (sessions_app/server_errors.py): keep that wait short. The pool connects in the background, each
        # attempt bounded by connect_timeout (else a host that drops packets holds one for minutes), and
        # gives up a series of attempts after reconnect_timeout, so the next request starts a fresh one
        # instead of waiting for a back-off that has grown long: the site is back seconds after the server.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": int(os.environ.get("DJANGO_DB_POOL_MIN", "2")),
            "max_size": int(os.environ.get("DJANGO_DB_POOL_MAX", "20")),
            "timeout": float(os.environ.get("DJANGO_DB_POOL_TIMEOUT", "3")),
            "reconnect_timeout": 10,
        }
        if ZYN_DB_PREPARE:
            # Only psycopg's server-binding cursors prepare: Django's ORM keeps its client-binding
            # cursors (no server_side_binding), so this reaches sessions_app/services.py's statements.
            DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DJANGO_CONN_MAX_AGE", "60"))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Persistent connections keep database_sync_to_async from reopening per call.
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                # Writers take the write lock at BEGIN and queue on it instead of failing
                # with "database is locked" when they upgrade a read transaction later.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not :memory:, so tests with real threads share one database.
            "TEST": {"NAME": str(BASE_DIR / "test_db.sqlite3")},
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")


def redis_channel_layer(url: str) -> dict:
    """The channels-redis layer on ``url`` (also used by tests that start their own redis-server)."""
    from channels_redis.core import RedisChannelLayer

    from zyn_site.redis_layer import connection_options

    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        **connection_options(url),  # its writes stop when cancelled: see that module
                        # Each process reads its channels with BZPOPMIN blocking up to brpop_timeout (5 s).
                        # redis-py 8 defaults every read to a 5 s socket timeout, which raced that read and
                        # closed an idle socket with 1011 ("Timeout reading from …") every few seconds. A
                        # healthy Redis answers the blocking read by its own timeout; the margin is its
                        # latency. A crashed Redis resets the connection at once; a hung or unreachable
                        # one is noticed after this timeout.
                        "socket_timeout": RedisChannelLayer.brpop_timeout + 5,
                        "socket_connect_timeout": 2,
                    }
                ],
                # The default (100) silently drops group sends to busy watchers.
                "capacity": 1500,
                "expiry": 30,
                # Every socket re-adds its groups on each periodic check (ZYN_LIVE_TICK_SECONDS), so this
                # never drops a live socket; it only bounds how long a crashed process's memberships stay.
                "group_expiry": 86400,
            },
        }
    }


if REDIS_URL:
    CHANNEL_LAYERS = redis_channel_layer(REDIS_URL)
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1500}}
    }

# Live feeds: how often each websocket re-checks its user, its groups, presence and the session version.
ZYN_LIVE_TICK_SECONDS = float(os.environ.get("ZYN_LIVE_TICK_SECONDS", "15"))
# 0: every watcher renders its own frames, for bench/bench_fanout.py's comparison with shared renders.
ZYN_LIVE_SHARED_RENDER = os.environ.get("ZYN_LIVE_SHARED_RENDER", "1") != "0"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the app/static folders: the dashboard runs without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default for admin JS.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp; sessions_app/content_security.py adds the host's ws:// and wss://
# to connect-src). Scripts and style sheets come from this site only, no inline <script> or <style>
# (htmx's own indicator <style> is turned off in base.html's htmx-config). One exception: inline style
# *attributes* (style-src-attr), because the usage chart draws each bar from its numbers as CSS variables
# (web.charts.bars_html: style="--p:…;--c:…;--t:…"), so a live delta appends bars without re-sending the
# others, and places its time labels (style="left:…%"). An attribute holds declarations only (no
# selectors, no @import), every value in one is a number the server wrote, and content is always
# escaped, so no stored text can become a style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],  # data: for the SVG icons inside the admin's and Swagger UI's CSS
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Dashboard form posts: "replace all from pasted JSON" can carry thousands of messages, and one message
# may be up to ZYN_MAX_CONTENT_BYTES; a larger post gets templates/400.html before any view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("ZYN_FORM_MAX_BYTES", str(16 * 1024 * 1024)))

# Largest message content the service accepts, in UTF-8 bytes.
ZYN_MAX_CONTENT_BYTES = int(os.environ.get("ZYN_MAX_CONTENT_BYTES", str(1024 * 1024)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# ---------------------------------------------------------------- JSON API
# Requests per API key in any window of this many seconds (sliding; sessions_app/services/ratelimit.py),
# shared through REDIS_URL when set, else counted per process; 0 disables rate limiting.
ZYN_API_RATE_LIMIT = int(os.environ.get("ZYN_API_RATE_LIMIT", "1200"))
ZYN_API_RATE_WINDOW = int(os.environ.get("ZYN_API_RATE_WINDOW", "60"))
# Largest JSON request body (bytes); larger → 413 before the body is read.
ZYN_API_MAX_BODY_BYTES = int(os.environ.get("ZYN_API_MAX_BODY_BYTES", str(32 * 1024 * 1024)))

# ---------------------------------------------------------------- request bodies (zyn_site/server.py)
# daphne refuses a body larger than this (413) before reading it: above the application's own limits
# (the form and API limits, plus 1 MiB of headroom), so a body just over those still gets the
# application's answer. And it answers 408 when a body stops arriving for this many seconds.
ZYN_MAX_REQUEST_BYTES = int(
    os.environ.get(
        "ZYN_MAX_REQUEST_BYTES", str(max(DATA_UPLOAD_MAX_MEMORY_SIZE, ZYN_API_MAX_BODY_BYTES) + 1024 * 1024)
    )
)
ZYN_REQUEST_BODY_TIMEOUT_SECONDS = float(os.environ.get("ZYN_REQUEST_BODY_TIMEOUT_SECONDS", "30"))
