"""Pulling from a real PACS: Orthanc with its DICOMweb plugin, through dicomweb-client."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest
import requests

from cardiocrowd.imaging import services
from cardiocrowd.imaging.models import ImportJob, Instance, Series, Study
from tests.conftest import DICOM_DATA, ECHO_CINE, SUNNYBROOK_PATIENT
from tests.orthanc import free_port

pytestmark = pytest.mark.orthanc

SUNNYBROOK_SLICES = [SUNNYBROOK_PATIENT / f"{n}.dcm" for n in range(41, 121)]  # 4 slices × 20 phases, one series
J2K = DICOM_DATA / "pydicom" / "MR_small_jp2klossless.dcm"


@pytest.fixture(scope="module")
def pacs(orthanc):
    orthanc.upload(*SUNNYBROOK_SLICES, ECHO_CINE, J2K)
    return orthanc


def study_uid(path) -> str:
    return pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID


@pytest.fixture(autouse=True)
def _parts_of_fifty(monkeypatch):
    monkeypatch.setattr(services, "INSTANCES_PER_SERIES_PART", 50)


def run_job(project, **parameters) -> ImportJob:
    job = services.create_import_job(project=project, kind=ImportJob.Kind.DICOMWEB, parameters=parameters,
                                     user=None, enqueue=False)
    return services.run_import_job(job_id=job.pk)


def test_studies_are_pulled_by_uid_and_stored_de_identified(project, pacs):
    project.burned_in_policy = "mask"
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()

    job = run_job(project, url=pacs.dicomweb_url, study_uids=[study_uid(SUNNYBROOK_SLICES[0]), study_uid(ECHO_CINE),
                                                              study_uid(J2K)])

    assert (job.status, job.total, job.done, job.imported, job.refused) == ("succeeded", 82, 82, 82, 0)
    # The 80-instance series is pulled in two parts (50 + 30 instances) that workers can share.
    assert sorted(chunk.total for chunk in job.chunks.all()) == [1, 1, 30, 50]
    assert sorted(chunk.done for chunk in job.chunks.all()) == [1, 1, 30, 50]
    syntaxes = sorted(Instance.objects.filter(project=project).values_list("transfer_syntax_uid", flat=True).distinct())
    assert syntaxes == ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90"]
    echo = Instance.objects.get(project=project, number_of_frames=120)
    assert echo.frame_time_ms == 33.333 and echo.pixels_masked
    assert Study.objects.filter(project=project).count() == 3
    assert study_uid(ECHO_CINE) not in set(Study.objects.values_list("study_uid", flat=True))


def test_a_second_pull_adds_nothing(project, pacs):
    first = run_job(project, url=pacs.dicomweb_url, study_uids=[study_uid(SUNNYBROOK_SLICES[0])])

    second = run_job(project, url=pacs.dicomweb_url, study_uids=[study_uid(SUNNYBROOK_SLICES[0])])

    assert (first.imported, second.imported, second.duplicates) == (80, 0, 80)
    assert Instance.objects.filter(project=project).count() == 80


def test_a_qido_query_selects_the_studies_to_pull(project, pacs):
    job = run_job(project, url=pacs.dicomweb_url, query={"ModalitiesInStudy": "MR"})

    assert job.status == "succeeded"
    assert set(Series.objects.filter(study__project=project).values_list("modality", flat=True)) == {"MR"}
    assert Instance.objects.filter(project=project).count() == 81


def test_an_unreachable_source_fails_the_job_with_the_reason(project):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"

    job = run_job(project, url=url, study_uids=["1.2.3"])

    assert job.status == "failed"
    assert job.failure_reason.startswith(f"DICOMweb source {url} is unreachable")
    assert Instance.objects.count() == 0


def test_an_unknown_study_fails_the_job(project, pacs):
    job = run_job(project, url=pacs.dicomweb_url, study_uids=["1.2.3.4.5.6"])

    assert job.status == "failed"
    assert job.failure_reason == f"DICOMweb source {pacs.dicomweb_url} has no study 1.2.3.4.5.6"


class FailingRetrieveProxy(BaseHTTPRequestHandler):
    """Forwards to Orthanc, but the PACS 'breaks' when the second series is retrieved."""

    upstream = ""
    broken_series = ""

    def do_GET(self):  # noqa: N802
        if self.broken_series and self.path.endswith(f"/series/{self.broken_series}"):
            self.send_response(500)
            self.end_headers()
            return
        upstream = requests.get(self.upstream + self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", upstream.headers.get("Content-Type", "application/octet-stream"))
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, *args):
        pass


def test_a_source_failing_mid_import_keeps_what_was_imported_consistent(project, pacs):
    echo_series = pydicom.dcmread(ECHO_CINE, stop_before_pixels=True).SeriesInstanceUID
    FailingRetrieveProxy.upstream, FailingRetrieveProxy.broken_series = pacs.url, echo_series
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), FailingRetrieveProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        job = run_job(project, url=f"http://127.0.0.1:{proxy.server_port}/dicom-web",
                      study_uids=[study_uid(SUNNYBROOK_SLICES[0]), study_uid(ECHO_CINE)])
    finally:
        proxy.shutdown()

    assert job.status == "failed" and " answered 500" in job.failure_reason
    assert (job.imported, job.done) == (80, 80)
    stored = Instance.objects.filter(project=project)
    assert stored.count() == 80 and all(instance.frame_index for instance in stored)


@pytest.fixture(scope="module")
def guarded_pacs():
    from tests.orthanc import OrthancServer

    server = OrthancServer(users={"importer": "s3cret-from-env"}).start()
    server.upload(ECHO_CINE)
    yield server
    server.stop()


@pytest.mark.parametrize("password, status", [("s3cret-from-env", "succeeded"), ("wrong", "failed")])
def test_a_configured_source_authenticates_with_the_secret_from_the_environment(
        api_client, admin_user, project, guarded_pacs, monkeypatch, django_capture_on_commit_callbacks,
        password, status):
    monkeypatch.setenv("TEST_PACS_PASSWORD", password)
    api_client.force_authenticate(admin_user)
    created = api_client.post(f"/api/projects/{project.slug}/dicomweb-sources/", {
        "name": "guarded", "url": guarded_pacs.dicomweb_url, "auth": "basic", "username": "importer",
        "secret_env": "TEST_PACS_PASSWORD"}, format="json")

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.slug}/imports/dicomweb/",
                                   {"source": "guarded", "study_uids": [study_uid(ECHO_CINE)]}, format="json")

    job = api_client.get(f"/api/projects/{project.slug}/imports/{response.json()['id']}/").json()
    assert created.status_code == 201 and "s3cret" not in created.content.decode()
    assert job["status"] == status
    if status == "failed":
        assert job["failure_reason"].startswith(f"DICOMweb source {guarded_pacs.dicomweb_url} answered 401")
    else:
        assert job["imported"] == 1


def test_the_import_command_pulls_from_dicomweb(db, pacs, capsys):
    from django.core.management import call_command

    call_command("import_dicom", "--project", "pulled", "--create", "--dicomweb", pacs.dicomweb_url,
                 "--study", study_uid(J2K))

    assert capsys.readouterr().out.splitlines()[0] == "imported 1 (quarantined 0), skipped as duplicate 0, refused 0"
