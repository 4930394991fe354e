"""An upload goes through the real broker (RabbitMQ) to a Celery worker process."""
import time

import pytest
from django.conf import settings

from cardiocrowd.celery import app as celery_app
from cardiocrowd.imaging.models import ImportJob, Instance
from cardiocrowd.imaging.services import with_progress
from tests.conftest import SUNNYBROOK_PATIENT, start_worker
from tests.imaging.test_upload_api import file_upload, upload_url, zip_of

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(broker_queue, tmp_path):
    process = start_worker(broker_queue, open(tmp_path / "worker.log", "wb"), pool="prefork", concurrency=2)
    use_routes({"cardiocrowd.imaging.tasks.*": {"queue": broker_queue}})
    yield process
    use_routes(settings.CELERY_TASK_ROUTES)
    process.terminate()
    process.wait(timeout=20)


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
