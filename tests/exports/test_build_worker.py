"""An export goes through the real broker (RabbitMQ) to a Celery worker process that is killed in
the middle of the build: nothing of it is ever served, and the redelivered message builds it whole
on the restarted worker."""
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from cardiocrowd.celery import app as celery_app
from exports.models import Export
from exports.services import request_export
from exports.storage import size_and_sha256
from exports.tasks import build_export_task
from tests.conftest import REPOSITORY

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue():
    name = f"exports-{os.getpid()}-{time.monotonic_ns()}"  # a queue of its own: no stale messages
    celery_app.conf.task_always_eager = False
    yield name
    celery_app.conf.task_always_eager = True
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_delete(name)


def start_worker(queue: str, log) -> subprocess.Popen:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                   "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
                   "CARDIOCROWD_DATA_DIR": str(settings.CARDIOCROWD_DATA_DIR)}
    # --pool solo: the task runs in the worker's own process, so killing it kills the task.
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "cardiocrowd", "worker", "-Q", queue, "--pool",
                             "solo", "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel",
                             "WARNING"], cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.02)


def test_a_worker_killed_during_a_build_leaves_nothing_served_and_the_build_is_redone(labeled, admin_user, queue,
                                                                                     tmp_path):
    export = request_export(project=labeled.project, user=admin_user)  # committed: the worker sees it
    folder = settings.CARDIOCROWD_DATA_DIR / "exports" / labeled.project.slug
    database = connection.settings_dict
    # Another session locks the items table, so the worker stops where it reads the items: its
    # export is marked building and its temporary folder made, nothing is written yet.
    blocker = psycopg.connect(dbname=database["NAME"], user=database["USER"], host=database["HOST"],
                              port=database["PORT"] or 5432)
    blocker.execute("LOCK TABLE labeling_item IN ACCESS EXCLUSIVE MODE")
    log = open(tmp_path / "worker.log", "ab")
    worker = start_worker(queue, log)
    build_export_task.apply_async((export.pk,), queue=queue)
    try:
        wait_for(lambda: Export.objects.get(pk=export.pk).status == "building" and any(
            path.name.startswith(".build-1-") for path in folder.iterdir()), 60, "the build starting")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=20)
    finally:
        blocker.rollback()
        blocker.close()
    interrupted = (Export.objects.get(pk=export.pk).status, export.files.count(), (folder / "1").exists())
    restarted = start_worker(queue, log)
    try:
        wait_for(lambda: Export.objects.get(pk=export.pk).status in {"ready", "failed"}, 120,
                 "the build finishing after the restart")
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    export.refresh_from_db()
    assert interrupted == ("building", 0, False)
    assert (export.status, export.error, export.item_count, export.files.count()) == ("ready", "", 3, 6)
    assert sorted(path.name for path in folder.iterdir()) == ["1"]  # the dead worker's temporary folder is gone
    for file in export.files.all():
        with open(folder / "1" / file.name, "rb") as handle:
            assert size_and_sha256(handle) == (file.size, file.sha256)
