import io
import zipfile

import pydicom
import pytest

from cardiocrowd.imaging import storage
from cardiocrowd.imaging.models import ImportJob, ImportProblem, Instance
from cardiocrowd.imaging.services import with_progress
from tests.conftest import DICOM_DATA, SUNNYBROOK_PATIENT


def upload_url(project) -> str:
    return f"/api/projects/{project.slug}/imports/upload/"


def file_upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/dicom")


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def without_sop_instance_uid() -> bytes:
    dataset = pydicom.dcmread(DICOM_DATA / "pydicom" / "CT_small.dcm")
    del dataset.SOPInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def assert_nothing_stored() -> None:
    assert Instance.objects.count() == 0
    assert ImportJob.objects.count() == 0
    assert list(storage.data_dir().rglob("*.dcm")) == []
    assert list((storage.data_dir() / "staging").glob("*")) == []


GOOD = (SUNNYBROOK_PATIENT / "1.dcm").read_bytes()
BAD_INPUTS = {
    "not dicom": ("notes.txt", b"this is not an image", "not a DICOM Part-10 file"),
    "truncated": ("MR_truncated.dcm", (DICOM_DATA / "pydicom" / "MR_truncated.dcm").read_bytes(),
                  "truncated file: pixel data holds 8130 of 8192 bytes"),
    "no SOPInstanceUID": ("ct.dcm", without_sop_instance_uid(), "missing SOPInstanceUID"),
    "path traversal": ("evil.zip", zip_of({"ok.dcm": GOOD, "../../etc/cron.d/x": GOOD}),
                       "escapes the archive (path traversal)"),
    "absolute path in zip": ("evil2.zip", zip_of({"/tmp/x.dcm": GOOD}), "escapes the archive (path traversal)"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_upload_is_refused_naming_the_problem_and_stores_nothing(api_client, admin_user, project, case):
    name, content, problem = BAD_INPUTS[case]
    api_client.force_authenticate(admin_user)

    response = api_client.post(upload_url(project), {"files": [file_upload("good.dcm", GOOD),
                                                               file_upload(name, content)]}, format="multipart")

    assert response.status_code == 400
    assert response.json()["detail"] == "Upload refused: nothing was stored."
    assert [p["file"] for p in response.json()["problems"]][0].startswith(name)
    assert problem in response.json()["problems"][0]["problem"]
    assert_nothing_stored()


def test_oversize_upload_is_refused_with_413(api_client, admin_user, project, settings):
    settings.CARDIOCROWD_MAX_UPLOAD_BYTES = 50_000
    api_client.force_authenticate(admin_user)

    response = api_client.post(upload_url(project), {"files": [file_upload("big.dcm", GOOD)]}, format="multipart")

    assert response.status_code == 413
    assert "exceeds the limit of 50000 bytes" in response.json()["detail"]
    assert_nothing_stored()


def test_zip_upload_runs_an_import_job_with_progress(api_client, admin_user, project,
                                                     django_capture_on_commit_callbacks):
    members = {f"cine/{n}.dcm": (SUNNYBROOK_PATIENT / f"{n}.dcm").read_bytes() for n in range(1, 5)}
    api_client.force_authenticate(admin_user)

    files = [file_upload("study.zip", zip_of(members)),
             file_upload("5.dcm", (SUNNYBROOK_PATIENT / "5.dcm").read_bytes())]

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(upload_url(project), {"files": files}, format="multipart")

    assert response.status_code == 202
    job = api_client.get(f"/api/projects/{project.slug}/imports/{response.json()['id']}/").json()
    assert {k: job[k] for k in ("status", "total", "done", "imported", "duplicates", "refused")} == {
        "status": "succeeded", "total": 5, "done": 5, "imported": 5, "duplicates": 0, "refused": 0}
    assert Instance.objects.filter(project=project).count() == 5
    assert list((storage.data_dir() / "staging").glob("*")) == []  # originals (with PHI) are gone


def test_only_project_admins_may_import(api_client, annotator, reviewer, outsider, project):
    responses = {}
    for user in (annotator, reviewer, outsider):
        api_client.force_authenticate(user)
        responses[user.username] = api_client.post(upload_url(project), {"files": [file_upload("a.dcm", GOOD)]},
                                                   format="multipart").status_code

    assert responses == {"crowd1": 403, "cardiologist": 403, "outsider": 404}
    assert ImportJob.objects.count() == 0


def test_folder_import_outside_the_import_roots_is_refused(api_client, admin_user, project):
    api_client.force_authenticate(admin_user)

    response = api_client.post(f"/api/projects/{project.slug}/imports/folder/", {"paths": ["/etc"]}, format="json")

    assert response.status_code == 400
    assert "outside the import roots" in response.json()["paths"][0]
    assert ImportJob.objects.count() == 0


def test_folder_import_inside_an_import_root(api_client, admin_user, project, settings, copy_of,
                                             django_capture_on_commit_callbacks):
    folder = copy_of(SUNNYBROOK_PATIENT / "1.dcm", DICOM_DATA / "pydicom" / "no_meta.dcm")
    settings.CARDIOCROWD_IMPORT_ROOTS = [folder.parent]
    api_client.force_authenticate(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/projects/{project.slug}/imports/folder/", {"paths": [str(folder)]},
                                   format="json")

    job = with_progress(ImportJob.objects.filter(pk=response.json()["id"])).get()
    assert (job.status, job.imported, job.refused) == ("succeeded", 1, 1)
    assert [(p.reference, p.reason) for p in ImportProblem.objects.filter(chunk__job=job)] == [
        ("no_meta.dcm", "not a DICOM Part-10 file (no 'DICM' preamble and file meta header)")]
