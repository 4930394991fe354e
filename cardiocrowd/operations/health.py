"""Readiness: can this process do its work right now? Each check is a plain function that returns
when its dependency answers and raises when it does not; /readyz runs them all."""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from cardiocrowd import blobs

logger = logging.getLogger(__name__)

# A probe that hangs is as bad as one that fails: each check gives up after this long.
CHECK_TIMEOUT_SECONDS = 2.0
PROBE_BYTES = b"cardiocrowd readiness probe\n"


class StorageCheckFailed(Exception):
    """What was written to storage did not read back the same."""


def check_database() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        # LOCAL: the limit ends with this transaction, so the pooled connection keeps no trace of it.
        cursor.execute("SET LOCAL statement_timeout = %s", [int(CHECK_TIMEOUT_SECONDS * 1000)])
        cursor.execute("SELECT 1")


def check_broker() -> None:
    from cardiocrowd.celery import app

    # The URL from the settings, not the app's cached configuration: both come from the same
    # variable in production, and a test can point the check at a closed port.
    with app.connection_for_read(url=settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT_SECONDS) as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS)


def check_storage() -> None:
    """Write, read back and delete a small file where the platform keeps its DICOM and exports.
    Object storage, where a deployment uses it, is checked here too."""
    probe = Path(settings.CARDIOCROWD_DATA_DIR) / f".readyz-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(PROBE_BYTES)
        if probe.read_bytes() != PROBE_BYTES:
            raise StorageCheckFailed(str(probe))
    finally:
        probe.unlink(missing_ok=True)
    if not blobs.is_local():  # the folder still holds upload staging; the store itself is the bucket
        check_object_storage()


def check_object_storage() -> None:
    """Write, read back (a ranged read, as frames are served) and delete a small object in the
    data storage's bucket."""
    name = f"readyz/{uuid.uuid4().hex}"
    try:
        blobs.write_atomically(name, lambda file: file.write(PROBE_BYTES))
        if blobs.read_ranges(name, [(0, len(PROBE_BYTES))]) != [PROBE_BYTES]:
            raise StorageCheckFailed(name)
    finally:
        blobs.delete(name)


# Name → check. Another part of the platform that the web process needs adds its check here.
READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    is_ok: bool
    latency_ms: float
    error: str | None = None  # the exception's class only: messages can carry host names and users

    def as_json(self) -> dict:
        body = {"status": "ok" if self.is_ok else "error", "latency_ms": round(self.latency_ms, 1)}
        if self.error is not None:
            body["error"] = self.error
        return body


def run_readiness_checks() -> list[CheckResult]:
    results = []
    for name, check in READINESS_CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as error:  # any failure of a dependency means "not ready", whatever its type
            logger.warning("readiness check %s failed: %r", name, error)
            results.append(CheckResult(name, False, _elapsed_ms(started), type(error).__name__))
        else:
            results.append(CheckResult(name, True, _elapsed_ms(started)))
    return results


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
