"""RYLA Studio settings: one module, read from the environment, with safe local defaults.

Every variable is listed in README.md and `.env.example`. With nothing set, the studio
runs on SQLite, local files and the bundled ComfyUI simulator at 127.0.0.1:8188.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from ryla.broker import transport_options_for

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Core --------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "comfy",
    "gallery",
    "studio",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ryla.middleware.BodySizeLimitMiddleware",
    # Last, as django-axes asks: it turns a lockout found during login into the answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ryla.urls"
WSGI_APPLICATION = "ryla.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Persistent connections: on PostgreSQL a new one per request costs more than a
        # simple API request's own work. Health checks drop a connection the server closed.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads and processes (web, worker) write to SQLite: wait for the lock
    # instead of failing at once; IMMEDIATE makes `atomic()` take the write lock up front so
    # that two reconcilers of one prompt serialize as they do with SELECT ... FOR UPDATE.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
    # A file, not the in-memory default: tests that reconcile from several threads need
    # every thread to see the same committed rows. DJANGO_TEST_DB lets two test runs in
    # one checkout keep apart.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("DJANGO_TEST_DB", str(BASE_DIR / ".test-db.sqlite3"))
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes counts failed logins on every path that calls authenticate() (the login page,
# the admin's, POST /auth/token) and refuses further attempts, even with the right
# password, per account and per client address, until the lockout window has passed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "ryla.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "ryla.auth.client_address"
AXES_VERBOSE = False

# Proxies in front of the app that append the client's address to X-Forwarded-For. At 0
# the header is ignored (anyone can send it); throttles and login lockouts use the address
# this designates.
NUM_PROXIES = env_int("DJANGO_NUM_PROXIES", 0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studio:index"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves static files under any server; in debug straight from the app folders
# (no collectstatic), as runserver would.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# HTTPS. With debug off the defaults redirect to HTTPS and send HSTS for a year; behind a
# proxy that terminates TLS, name the header it sets ("HTTP_X_FORWARDED_PROTO,https").
# /healthz stays reachable over plain HTTP for load balancers.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
_proxy_ssl_header = env_list("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None

# Request bodies: small everywhere; the inpaint endpoint raises its own limit
# (STUDIO_INPAINT_MAX_BODY_BYTES) because it carries a base64 PNG. BodySizeLimitMiddleware
# enforces both by Content-Length before anything is read; DATA_UPLOAD_MAX_MEMORY_SIZE (set
# below, after the studio's limits) is Django's backstop and must admit the largest of them.
REQUEST_MAX_BODY_BYTES = env_int("DJANGO_MAX_BODY_BYTES", 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Storage -----------------------------------------------------------------------------

MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 3600)

if AWS_STORAGE_BUCKET_NAME:
    # Credentials come from the standard AWS variables (AWS_ACCESS_KEY_ID, ...) through boto3.
    default_storage_backend = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "region_name": AWS_S3_REGION_NAME,
            "default_acl": "private",
            "querystring_auth": True,
            "signature_version": "s3v4",
            "querystring_expire": AWS_QUERYSTRING_EXPIRE,
            "file_overwrite": True,
        },
    }
else:
    default_storage_backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL, "allow_overwrite": True},
    }

STORAGES = {
    "default": default_storage_backend,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}


# Content-Security-Policy (django-csp): no inline script or style anywhere, images also
# from the S3 endpoint that presigned URLs point at (the mask editor draws them on a canvas).
def _storage_origins() -> list[str]:
    if not AWS_STORAGE_BUCKET_NAME:
        return []
    if AWS_S3_ENDPOINT_URL:
        scheme, _, rest = AWS_S3_ENDPOINT_URL.partition("://")
        host = rest.split("/")[0]
        return [f"{scheme}://{host}", f"{scheme}://*.{host}"]
    return ["https://*.amazonaws.com"]


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:", *_storage_origins()],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- REST API ----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ryla.errors.NestingLimitedJSONParser"],
    "EXCEPTION_HANDLER": "ryla.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "studio_start": env_str("STUDIO_THROTTLE_RATE", "60/min"),
        "auth_token": env_str("AUTH_TOKEN_THROTTLE_RATE", "20/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RYLA Studio API",
    "DESCRIPTION": "Generate image packs of AI-influencer characters and edit them by inpainting.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the app (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ryla.openapi.error_responses_add",
    ],
}

REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    }
}
if REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }

# --- Dispatch (Celery) -------------------------------------------------------------------
# One render task per image, pulled by render workers bound to ComfyUI backends. Brokers:
# CELERY_BROKER_URL, else REDIS_URL, else an embedded broker in a SQLite file (kombu's
# SQLAlchemy transport: one machine, polled, no priorities; for `make run`).

CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{BASE_DIR / 'celery-broker.sqlite3'}"
)
CELERY_TASK_ACKS_LATE = True  # a job is taken off the broker only once it is done
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # and goes back if its worker dies
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a worker holds no job it cannot start now
CELERY_TASK_IGNORE_RESULT = True  # the database row is the result
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
# A request that cannot reach the broker answers 503 quickly instead of waiting on it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_QUEUE_MAX_PRIORITY = 9  # RabbitMQ: x-max-priority on the render queue
CELERY_BROKER_TRANSPORT_OPTIONS = transport_options_for(CELERY_BROKER_URL)
if CELERY_BROKER_URL.startswith("sqla+"):
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False

# --- ComfyUI -----------------------------------------------------------------------------

# The backends a render worker serves when started without --backend (and `make run`'s).
COMFYUI_URLS = env_list("COMFYUI_URLS", "http://127.0.0.1:8188")
COMFYUI_TIMEOUT = env_float("COMFYUI_TIMEOUT", 10.0)
COMFYUI_RETRIES = env_int("COMFYUI_RETRIES", 2)
# /healthz shows staff a background probe of the backends, refreshed when older than the
# TTL; one attempt per call with this timeout, so a hung backend costs the check nothing.
COMFYUI_HEALTH_TTL_SECONDS = env_float("COMFYUI_HEALTH_TTL_SECONDS", 5.0)
COMFYUI_HEALTH_TIMEOUT = env_float("COMFYUI_HEALTH_TIMEOUT", 2.0)

COMFYUI_ZIMAGE_UNET = env_str("COMFYUI_ZIMAGE_UNET", "z_image_turbo_bf16.safetensors")
COMFYUI_ZIMAGE_CLIP = env_str("COMFYUI_ZIMAGE_CLIP", "qwen_3_4b.safetensors")
COMFYUI_VAE = env_str("COMFYUI_VAE", "ae.safetensors")
COMFYUI_FLUX_FILL_UNET = env_str("COMFYUI_FLUX_FILL_UNET", "flux1-fill-dev.safetensors")
COMFYUI_FLUX_CLIP_L = env_str("COMFYUI_FLUX_CLIP_L", "clip_l.safetensors")
COMFYUI_FLUX_T5XXL = env_str("COMFYUI_FLUX_T5XXL", "t5xxl_fp16.safetensors")

# --- Studio ------------------------------------------------------------------------------

# Rendering: the queue render workers pull from; attempts on different backends before an
# image fails; how long a claimed job may go without its worker's heartbeat before it is
# taken back; how often the sweep looks for lost jobs; how long images wait without any
# reachable backend before they fail.
STUDIO_RENDER_QUEUE = env_str("STUDIO_RENDER_QUEUE", "renders")
STUDIO_RENDER_MAX_ATTEMPTS = env_int("STUDIO_RENDER_MAX_ATTEMPTS", 3)
STUDIO_RENDER_STALE_SECONDS = env_float("STUDIO_RENDER_STALE_SECONDS", 30.0)
STUDIO_SWEEP_SECONDS = env_float("STUDIO_SWEEP_SECONDS", 10.0)
STUDIO_WORKER_HEARTBEAT_SECONDS = env_float("STUDIO_WORKER_HEARTBEAT_SECONDS", 5.0)
# Workers read the LoRA files their backends offer this often; the character form offers
# the files seen within STUDIO_LORA_FRESH_SECONDS.
STUDIO_LORA_REPORT_SECONDS = env_float("STUDIO_LORA_REPORT_SECONDS", 60.0)
STUDIO_LORA_FRESH_SECONDS = env_float("STUDIO_LORA_FRESH_SECONDS", 600.0)
COMFYUI_WAIT_SECONDS = env_float("COMFYUI_WAIT_SECONDS", 600.0)
# A backend that stops answering mid-job for this long is given up on (the job moves on).
COMFYUI_DEAD_AFTER_SECONDS = env_float("COMFYUI_DEAD_AFTER_SECONDS", 30.0)

# Render cost: sampler steps per quality mode and for inpainting, and a scale on every
# preset size (multiples of 16). Lower them for a CPU-only or test ComfyUI.
STUDIO_DRAFT_STEPS = env_int("STUDIO_DRAFT_STEPS", 6)
STUDIO_HQ_STEPS = env_int("STUDIO_HQ_STEPS", 9)
STUDIO_INPAINT_STEPS = env_int("STUDIO_INPAINT_STEPS", 20)
STUDIO_SIZE_SCALE = env_float("STUDIO_SIZE_SCALE", 1.0)
STUDIO_MAX_IN_FLIGHT_PER_USER = env_int("STUDIO_MAX_IN_FLIGHT_PER_USER", 30)
STUDIO_INPAINT_MAX_BODY_BYTES = env_int("STUDIO_INPAINT_MAX_BODY_BYTES", 20 * 1024 * 1024)
# DRF parses `request.body`, which Django refuses (an HTML 400) past this, before any view
# can apply its own limit; the middleware above holds every other view to its smaller one.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(REQUEST_MAX_BODY_BYTES, STUDIO_INPAINT_MAX_BODY_BYTES)
STUDIO_MASK_MAX_BYTES = env_int("STUDIO_MASK_MAX_BYTES", 15 * 1024 * 1024)
STUDIO_MASK_MAX_PIXELS = env_int("STUDIO_MASK_MAX_PIXELS", 4096 * 4096)
STUDIO_GALLERY_PAGE_SIZE = env_int("STUDIO_GALLERY_PAGE_SIZE", 24)

# --- Analytics ---------------------------------------------------------------------------

POSTHOG_API_KEY = env_str("POSTHOG_API_KEY")
POSTHOG_HOST = env_str("POSTHOG_HOST", "https://us.i.posthog.com")
