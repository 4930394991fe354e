"""An export goes through the real broker (RabbitMQ) to a Celery worker process that is killed in
the middle of the build: nothing of it is ever served, and the redelivered message builds it whole
on the restarted worker."""
import signal

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from exports.models import Export
from exports.services import request_export
from exports.storage import size_and_sha256
from exports.tasks import build_export_task
from tests.conftest import start_worker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_during_a_build_leaves_nothing_served_and_the_build_is_redone(labeled, admin_user,
                                                                                     broker_queue, tmp_path):
    export = request_export(project=labeled.project, user=admin_user)  # committed: the worker sees it
    folder = settings.CARDIOCROWD_DATA_DIR / "exports" / labeled.project.slug
    database = connection.settings_dict
    # Another session locks the items table, so the worker stops where it reads the items: its
    # export is marked building and its temporary folder made, nothing is written yet.
    blocker = psycopg.connect(dbname=database["NAME"], user=database["USER"], host=database["HOST"],
                              port=database["PORT"] or 5432)
    blocker.execute("LOCK TABLE labeling_item IN ACCESS EXCLUSIVE MODE")
    log = open(tmp_path / "worker.log", "ab")
    worker = start_worker(broker_queue, log)
    build_export_task.apply_async((export.pk,), queue=broker_queue)
    try:
        wait_until(lambda: Export.objects.get(pk=export.pk).status == "building" and folder.is_dir() and any(
            path.name.startswith(".build-1-") for path in folder.iterdir()), 60, "the build starting")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=20)
    finally:
        blocker.rollback()
        blocker.close()
    interrupted = (Export.objects.get(pk=export.pk).status, export.files.count(), (folder / "1").exists())
    restarted = start_worker(broker_queue, log)
    try:
        wait_until(lambda: Export.objects.get(pk=export.pk).status in {"ready", "failed"}, 120,
                 "the build finishing after the restart")
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    export.refresh_from_db()
    assert interrupted == ("building", 0, False)
    assert (export.status, export.error, export.item_count, export.files.count()) == ("ready", "", 3, 8)
    assert sorted(path.name for path in folder.iterdir()) == ["1"]  # the dead worker's temporary folder is gone
    for file in export.files.all():
        with open(folder / "1" / file.name, "rb") as handle:
            assert size_and_sha256(handle) == (file.size, file.sha256)
