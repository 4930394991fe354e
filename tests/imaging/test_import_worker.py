"""An upload goes through the real broker (RabbitMQ) to a Celery worker process."""
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from cardiocrowd.celery import app as celery_app
from cardiocrowd.imaging.models import ImportJob, Instance
from cardiocrowd.imaging.services import with_progress
from tests.conftest import REPOSITORY, SUNNYBROOK_PATIENT
from tests.imaging.test_upload_api import file_upload, upload_url, zip_of

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path):
    queue = f"imports-{os.getpid()}-{time.monotonic_ns()}"  # a queue of its own: no stale messages
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CARDIOCROWD_DATA_DIR": str(settings.CARDIOCROWD_DATA_DIR),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cardiocrowd", "worker", "-Q", queue, "--concurrency", "2",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=REPOSITORY, env=environment, stdout=open(tmp_path / "worker.log", "wb"), stderr=subprocess.STDOUT,
    )
    celery_app.conf.task_always_eager = False
    use_routes({"cardiocrowd.imaging.tasks.*": {"queue": queue}})
    yield process
    celery_app.conf.task_always_eager = True
    use_routes(settings.CELERY_TASK_ROUTES)
    process.terminate()
    process.wait(timeout=20)
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_delete(queue)


def use_routes(routes: dict) -> None:
    """Route tasks anew: Celery caches the routing table and router it built from the first task sent."""
    celery_app.conf.task_routes = routes
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)


def wait_for(job_id: int, seconds: float = 180) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = with_progress(ImportJob.objects.filter(pk=job_id)).get()
        if job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.status} after {seconds} s")


def test_upload_is_imported_by_worker_processes_through_rabbitmq(api_client, admin_user, project, worker):
    members = {f"cine/{n}.dcm": (SUNNYBROOK_PATIENT / f"{n}.dcm").read_bytes() for n in range(1, 121)}
    api_client.force_authenticate(admin_user)

    response = api_client.post(upload_url(project), {"files": [file_upload("cine.zip", zip_of(members))]},
                               format="multipart")
    job = wait_for(response.json()["id"])

    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert (job.status, job.total, job.done, job.imported, job.duplicates) == ("succeeded", 120, 120, 120, 0)
    assert job.chunks.count() == 3  # 50 + 50 + 20 files, shared by the worker's two processes
    assert Instance.objects.filter(project=project).count() == 120
    progress = api_client.get(f"/api/projects/{project.slug}/imports/{job.pk}/").json()
    assert (progress["status"], progress["done"], progress["total"]) == ("succeeded", 120, 120)
