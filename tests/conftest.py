import os
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from cardiocrowd.accounts.models import Membership

from .factories import MembershipFactory, ProjectFactory, UserFactory

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CARDIOCROWD_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
DICOM_DATA = SHARED_DATA / "dicom"
ECHO_CINE = DICOM_DATA / "pydicom-data" / "color3d_jpeg_baseline.dcm"
SUNNYBROOK_PATIENT = DICOM_DATA / "sunnybrook" / "dicoms" / "SCD0000101"


@pytest.fixture(scope="session", autouse=True)
def _shared_data_present() -> None:
    if not DICOM_DATA.is_dir():
        pytest.exit(f"test data not found at {DICOM_DATA} (set CARDIOCROWD_SHARED_DATA)", returncode=2)


@pytest.fixture(autouse=True)
def _fresh_data_dir(settings, tmp_path) -> None:
    settings.CARDIOCROWD_DATA_DIR = tmp_path / "data"
    settings.CARDIOCROWD_DATA_DIR.mkdir()


@pytest.fixture
def project(db):
    return ProjectFactory(slug="echo-study")


def _member(project, role: str, username: str):
    return MembershipFactory(project=project, role=role, user=UserFactory(username=username)).user


@pytest.fixture
def admin_user(project):
    user = _member(project, Membership.Role.ADMIN, "admin")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def reviewer(project):
    return _member(project, Membership.Role.EXPERT, "cardiologist")


@pytest.fixture
def annotator(project):
    return _member(project, Membership.Role.CROWD, "crowd1")


@pytest.fixture
def other_annotator(project):
    return _member(project, Membership.Role.CROWD, "crowd2")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def copy_of(tmp_path):
    """Copy shared files into a temp folder (tests never write into ../shared)."""
    def copy(*sources: Path, folder: str = "input") -> Path:
        target = tmp_path / folder
        target.mkdir(exist_ok=True)
        for source in sources:
            shutil.copy(source, target / source.name)
        return target
    return copy


@pytest.fixture
def ingest():
    """Ingest files straight through the service, as a worker would."""
    from cardiocrowd.imaging.services import ingest_dataset
    from cardiocrowd.imaging.validation import read_part10

    def run(project, *paths: Path):
        return [ingest_dataset(project=project, dataset=read_part10(str(path))) for path in paths]
    return run


def new_stage(project, *, redundancy: int = 3, lease_seconds: int = 600, **design):
    """A new view-classification stage at the end of the project's pipeline."""
    from labeling.design import StageDesign, append_stage, save_schema_version
    from labeling.models import LabelSchema
    from labeling.templates import TEMPLATES

    schema = LabelSchema.objects.filter(project=project, name="views").first() or save_schema_version(
        project=project, name="views", user=None, definition=TEMPLATES["echo-view-classification"]["schema"])
    return append_stage(project=project, schema=schema, user=None, design=StageDesign(
        name="Which view?", redundancy=redundancy, lease_seconds=lease_seconds, **design))


@pytest.fixture
def assign():
    """Lease a worker an item covering an instance, a series or a study, through the real engine
    (each in a stage of its own, so one worker can hold several at once)."""
    from labeling.assignment import claim_next_task
    from labeling.design import add_items_to_stage
    from labeling.models import Item

    def run(worker, *, instance=None, series=None, study=None):
        series = series or (instance.series if instance else None)
        study = study or (series.study if series else None)
        item = Item.objects.create(project=study.project, study=study, series=series, instance=instance)
        stage = new_stage(study.project)
        add_items_to_stage(stage=stage, items=[item])
        return claim_next_task(stage=stage, worker=worker)
    return run


@pytest.fixture(scope="session")
def orthanc():
    from .orthanc import OrthancServer

    server = OrthancServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def object_gateway():
    """A real S3-compatible object store: Ceph's RADOS Gateway on loopback (tests/objectstore.py)."""
    from .objectstore import ObjectGateway

    gateway = ObjectGateway().start()
    yield gateway
    gateway.stop()


@pytest.fixture
def use_object_storage(object_gateway, settings, monkeypatch):
    """Call to store the platform's objects in a fresh bucket of the gateway from then on, configured
    by the settings module's own code for CARDIOCROWD_STORAGE=s3 (run again with the gateway's
    variables). Returns the bucket's name."""
    def switch() -> str:
        bucket = object_gateway.new_bucket()
        for name, value in object_gateway.environment(bucket=bucket).items():
            monkeypatch.setenv(name, value)
        configured = runpy.run_path(str(REPOSITORY / "cardiocrowd" / "settings.py"))["STORAGES"]["data"]
        settings.STORAGES = {**settings.STORAGES, "data": configured}
        return bucket
    return switch


# --- broker tests: real Celery worker processes on a queue of their own ----------------------


@pytest.fixture
def broker_queue():
    """A RabbitMQ queue of the test's own (no stale messages); tasks are sent for real meanwhile."""
    from cardiocrowd.celery import app

    name = f"tests-{os.getpid()}-{time.monotonic_ns()}"
    app.conf.task_always_eager = False
    yield name
    app.conf.task_always_eager = True
    with app.connection_for_write() as broker:
        broker.default_channel.queue_delete(name)


def start_worker(queue: str, log, *, pool: str = "solo", concurrency: int = 1,
                 loglevel: str = "WARNING") -> subprocess.Popen:
    """A Celery worker process on the test's database and data folder, consuming `queue`. With the
    solo pool the task runs in the worker's own process, so killing the worker kills the task."""
    from django.conf import settings
    from django.db import connection

    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                   "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
                   "CARDIOCROWD_DATA_DIR": str(settings.CARDIOCROWD_DATA_DIR)}
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "cardiocrowd", "worker", "-Q", queue, "--pool",
                             pool, "--concurrency", str(concurrency), "--without-heartbeat", "--without-gossip",
                             "--without-mingle", "--loglevel", loglevel,
                             # A node name of its own: two workers named alike fight over the pidbox queue.
                             "--hostname", f"{queue}-{time.monotonic_ns()}@%h"],
                            cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(0.02)
