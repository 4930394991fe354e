"""CardioCrowd settings, read from the environment (every variable is listed in deploy/.env.example).

Defaults are safe for production: DEBUG is off, and with DEBUG off a missing secret key or
database URL is an error rather than a silent fallback.
"""
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value in (None, ""):
        return list(default or [])
    return [part.strip() for part in value.split(",") if part.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL is None:
    if not DEBUG:
        raise ImproperlyConfigured("DATABASE_URL must be set when DJANGO_DEBUG is off")
    DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cardiocrowd"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "cardiocrowd.accounts",
    "cardiocrowd.imaging",
    "labeling",
    "exports",
    "training",
    "frontend",
    "cardiocrowd.operations",
]

MIDDLEWARE = [
    # Outermost: every request gets an id and a latency sample; probes and scrapes are answered
    # before host validation (cardiocrowd/operations/middleware.py).
    "cardiocrowd.operations.middleware.RequestIdMiddleware",
    "cardiocrowd.operations.middleware.RequestMetricsMiddleware",
    "cardiocrowd.operations.middleware.OperationsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cardiocrowd.urls"
WSGI_APPLICATION = "cardiocrowd.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/app/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous script then gets 401 with a WWW-Authenticate challenge.
        "cardiocrowd.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CardioCrowd API",
    "DESCRIPTION": "Projects, DICOM ingest, the platform's DICOMweb endpoints, and the labeling engine: "
                   "schemas, pipelines of stages, tasks and answers, gold and qualification, review, audit.",
    "VERSION": "0.1.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {"StageKindEnum": "labeling.models.Stage.Kind",
                            "ImportJobKindEnum": "cardiocrowd.imaging.models.ImportJob.Kind"},
}

# --- DICOM storage and ingest -------------------------------------------------------------
# De-identified DICOM, exports and model checkpoints are stored through the "data" storage
# (cardiocrowd/blobs.py): this folder by default; with CARDIOCROWD_STORAGE=s3, a bucket of
# S3-compatible object storage that every web replica and worker shares (docs/operations.md).
# Upload staging stays in this folder either way. Nothing identifying is ever written to either.
CARDIOCROWD_DATA_DIR = Path(env_str("CARDIOCROWD_DATA_DIR", str(BASE_DIR / "var" / "data")))
CARDIOCROWD_STORAGE = env_str("CARDIOCROWD_STORAGE", "filesystem")
if CARDIOCROWD_STORAGE == "filesystem":
    STORAGES["data"] = {"BACKEND": "cardiocrowd.blobs.DataFolderStorage"}
elif CARDIOCROWD_STORAGE == "s3":
    from botocore.config import Config as BotocoreConfig

    if env_str("AWS_STORAGE_BUCKET_NAME") is None:
        raise ImproperlyConfigured("AWS_STORAGE_BUCKET_NAME must be set when CARDIOCROWD_STORAGE is s3")
    _endpoint = env_str("AWS_S3_ENDPOINT_URL")  # unset: Amazon S3 itself
    STORAGES["data"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
        "endpoint_url": _endpoint,
        "region_name": env_str("AWS_S3_REGION_NAME"),
        # Unset keys leave boto3 its own chain (an instance role, a Kubernetes web identity).
        "access_key": env_str("AWS_ACCESS_KEY_ID"),
        "secret_key": env_str("AWS_SECRET_ACCESS_KEY"),
        "default_acl": None,  # private: the bucket's own policy applies
        "client_config": BotocoreConfig(
            # Self-hosted servers (MinIO, Ceph) are addressed by path, not by bucket host name.
            s3={"addressing_style": env_str("AWS_S3_ADDRESSING_STYLE", "path" if _endpoint else "auto")},
            # Checksums only where the API requires them: several S3-compatible servers refuse the
            # trailing checksums that botocore sends by default since 1.36.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60),
    }}
else:
    raise ImproperlyConfigured(f"CARDIOCROWD_STORAGE is {CARDIOCROWD_STORAGE!r}: filesystem or s3")
# An upload (one request: files or a zip) larger than this is refused with 413.
CARDIOCROWD_MAX_UPLOAD_BYTES = env_int("CARDIOCROWD_MAX_UPLOAD_BYTES", 2 * 1024**3)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
# Server folders an admin may import from; anything outside is refused (no reading /etc).
CARDIOCROWD_IMPORT_ROOTS = [Path(p) for p in env_list("CARDIOCROWD_IMPORT_ROOTS")]

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded default: queues are folders, so no broker server is needed.
    _queue_dir = Path(env_str("CELERY_FILESYSTEM_QUEUE_DIR", str(CARDIOCROWD_DATA_DIR / "queue")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task that names no limit of its own is killed after an hour. No global soft limit: a task's
# missing soft limit falls back to it, which would cut the 6-hour training runs short.
CELERY_TASK_TIME_LIMIT = 3600
# Redis (and SQS) redeliver an unacknowledged task after the visibility timeout: it must outlast the
# longest task (training, 6 hours) or a task still running would be started a second time.
LONGEST_TASK_SECONDS = 6 * 3600
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "sqs://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": LONGEST_TASK_SECONDS + 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# When the broker connection drops, a task that was running can no longer be acknowledged and will be
# redelivered; cancel it rather than let it finish twice.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# CPU work queue; a deployment (or a benchmark) may name its own.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_DEFAULT_QUEUE", "default")
# Whole-stage consensus runs (labeling/estimation.py) go to CONSENSUS_QUEUE; with GPU workers, a
# stage of at least CONSENSUS_GPU_MIN_ANSWERS answers goes to CONSENSUS_GPU_QUEUE instead.
CONSENSUS_QUEUE = env_str("CONSENSUS_QUEUE", CELERY_TASK_DEFAULT_QUEUE)
CONSENSUS_GPU_QUEUE = env_str("CONSENSUS_GPU_QUEUE", "")
CONSENSUS_GPU_MIN_ANSWERS = env_int("CONSENSUS_GPU_MIN_ANSWERS", 500_000)
# Training, pretraining and scoring runs (training/tasks.py) go to TRAINING_QUEUE: a worker pool on
# GPU machines consumes it (and uses cuda); any worker that consumes it trains on its CPU.
TRAINING_QUEUE = env_str("TRAINING_QUEUE", "gpu")
TRAINING_PRETRAIN_EPOCHS = env_int("TRAINING_PRETRAIN_EPOCHS", 60)
CELERY_TASK_ROUTES = {
    "training.tasks.execute_run_task": {"queue": TRAINING_QUEUE},
    "training.tasks.*": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "labeling.tasks.reestimate_stage_task": {"queue": CONSENSUS_QUEUE},
    "cardiocrowd.imaging.tasks.*": {"queue": CELERY_TASK_DEFAULT_QUEUE},
    "labeling.tasks.*": {"queue": CELERY_TASK_DEFAULT_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    # Abandoned leases go back to the pool within half a minute of running out.
    "release-expired-leases": {"task": "labeling.tasks.release_expired_leases_task", "schedule": 30.0},
    # Worker reliabilities improve as gold and overlap grow: re-learn them where answers came in.
    "reestimate-consensus": {"task": "labeling.tasks.reestimate_due_stages_task",
                             "schedule": float(env_int("CONSENSUS_REESTIMATE_SECONDS", 900))},
    # Models retrain after every N new consensus labels (their spec says N) or on their schedule.
    "retrain-models": {"task": "training.tasks.retrain_due_models_task",
                       "schedule": float(env_int("TRAINING_CHECK_SECONDS", 60))},
}

# --- Operations (cardiocrowd/operations, docs/operations.md) ---------------------------------------
# "json": one JSON object per log line (production, for a log collector); "text": for people.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
# GET /metrics: with a token, only to `Authorization: Bearer <token>`; without one, only to loopback
# and private addresses.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Read by prometheus_client itself: a folder, empty at start, shared by the processes of one gunicorn
# (or of one prefork Celery worker) so that their metrics are summed. Unset: one process, in memory.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")
# A Celery worker serves its task counters on this port (0: not served).
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)
if LOG_FORMAT == "json":
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING below, as JSON

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "cardiocrowd.operations.logs.ContextFilter"}},
    "formatters": {"json": {"()": "cardiocrowd.operations.logs.JsonFormatter"},
                   "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": "json" if LOG_FORMAT == "json" else "text"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"pydicom": {"level": "ERROR"}, "dicomweb_client": {"level": "WARNING"},
                "highdicom": {"level": "WARNING"}},
}
