import os
import subprocess
import sys

import pytest

from tests.conftest import REPOSITORY

CLEAN = {key: value for key, value in os.environ.items()
         if not key.startswith(("DJANGO_", "DATABASE_", "CELERY_", "CARDIOCROWD_"))}


def import_settings(**variables: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import cardiocrowd.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS)"],
                          cwd=REPOSITORY, env={**CLEAN, **variables}, capture_output=True, text=True)


@pytest.mark.parametrize("variables, missing", [
    ({}, "DJANGO_SECRET_KEY must be set"),
    ({"DJANGO_SECRET_KEY": "x" * 50}, "DATABASE_URL must be set"),
])
def test_production_defaults_refuse_to_start_without_secrets(variables, missing):
    result = import_settings(**variables)

    assert result.returncode != 0
    assert missing in result.stderr


def test_configured_production_settings_are_not_debug():
    result = import_settings(DJANGO_SECRET_KEY="x" * 50, DATABASE_URL="postgres://db/cardiocrowd")

    assert result.returncode == 0
    assert result.stdout.strip() == "False []"
