"""Test settings: the base settings against the machine's real PostgreSQL and RabbitMQ."""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cardiocrowd")
os.environ.setdefault("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")

from cardiocrowd.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
# Each test gets its own data folder (tests/conftest.py); a Celery worker started by a broker
# test gets the test's folder through the environment.
CARDIOCROWD_DATA_DIR = Path(os.environ.get("CARDIOCROWD_DATA_DIR") or Path(tempfile.gettempdir()) / "cardiocrowd-tests")
STATIC_ROOT = Path(tempfile.gettempdir()) / "cardiocrowd-tests-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing folder
CARDIOCROWD_IMPORT_ROOTS = [Path(__file__).resolve().parent]  # re-pointed per test where needed
# Unit tests run tasks in-process; tests marked `broker` switch this off and run a real worker.
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
