import email

import pydicom
import pytest

from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.models import Instance
from labeling.models import Assignment
from tests.conftest import DICOM_DATA, ECHO_CINE, SUNNYBROOK_PATIENT

ECHO_MASK = [{"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}]


def parse_multipart(response) -> list[tuple[dict, bytes]]:
    """Split a multipart/related body into (headers, payload) parts with the standard library."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    message = email.message_from_bytes(f"Content-Type: {response['Content-Type']}\r\n\r\n".encode() + body)
    return [(dict(part.items()), part.get_payload(decode=True)) for part in message.get_payload()]


@pytest.fixture
def echo_project(project, ingest):
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = ECHO_MASK
    project.save()
    ingest(project, ECHO_CINE, *[SUNNYBROOK_PATIENT / f"{n}.dcm" for n in (1, 2, 3)])
    return project


@pytest.fixture
def echo(echo_project):
    return Instance.objects.select_related("series__study").get(project=echo_project, number_of_frames=120)


def instance_url(instance: Instance) -> str:
    return (f"/dicomweb/{instance.project.slug}/studies/{instance.series.study.study_uid}/series/"
            f"{instance.series.series_uid}/instances/{instance.sop_instance_uid}")


def test_qido_lists_studies_series_and_instances_for_an_expert(api_client, reviewer, echo_project):
    api_client.force_authenticate(reviewer)

    studies = api_client.get(f"/dicomweb/{echo_project.slug}/studies").json()
    mr_study = next(s for s in studies if s["00080061"]["Value"] == ["MR"])
    series = api_client.get(f"/dicomweb/{echo_project.slug}/studies/{mr_study['0020000D']['Value'][0]}/series").json()
    instances = api_client.get(f"/dicomweb/{echo_project.slug}/instances", {"Modality": "MR"}).json()

    assert sorted(s["00080061"]["Value"][0] for s in studies) == ["MR", "US"]
    assert mr_study["00201208"]["Value"] == [3] and mr_study["00201206"]["Value"] == [1]
    assert [s["00201209"]["Value"] for s in series] == [[3]]
    assert len(instances) == 3 and all(i["00080060"]["Value"] == ["MR"] for i in instances)


@pytest.mark.parametrize(("query", "problem"), [
    ("offset=-5", "offset must be from 0"), ("offset=100000000000000000000", "offset must be from 0"),
    ("offset=1e20", "limit and offset must be integers"), ("PatientID=%00", "PatientID contains a NUL character"),
    ("Modality=CT%00", "Modality contains a NUL character")])
def test_a_malformed_qido_query_is_a_400_naming_the_problem(api_client, reviewer, echo_project, query, problem):
    api_client.force_authenticate(reviewer)

    responses = [api_client.get(f"/dicomweb/{echo_project.slug}/{level}?{query}") for level in ("studies", "series",
                                                                                                 "instances")]

    assert [response.status_code for response in responses] == [400, 400, 400]
    assert all(problem in response.json()["detail"] for response in responses)


def test_qido_matches_modalities_in_study_without_counting_twice(api_client, reviewer, echo_project):
    api_client.force_authenticate(reviewer)

    studies = api_client.get(f"/dicomweb/{echo_project.slug}/studies", {"ModalitiesInStudy": "MR"}).json()

    assert [(s["00080061"]["Value"], s["00201208"]["Value"]) for s in studies] == [(["MR"], [3])]


def test_metadata_is_dicom_json_with_frames_and_calibration(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)

    response = api_client.get(instance_url(echo) + "/metadata")

    metadata = response.json()[0]
    assert response["Content-Type"] == "application/dicom+json"
    assert metadata["00280008"]["Value"] == [120]
    assert metadata["00181063"]["Value"] == [33.333]
    assert metadata["00020010"]["Value"] == ["1.2.840.10008.1.2.4.50"]
    assert "00186011" in metadata  # SequenceOfUltrasoundRegions: mm calibration for the viewer
    assert metadata["7FE00010"]["BulkDataURI"].endswith(f"/instances/{echo.sop_instance_uid}/bulkdata/7fe00010")


def test_frames_come_in_the_stored_syntax_when_any_is_accepted(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)
    stored = pydicom.dcmread(echo_path(echo))
    expected = list(pydicom.encaps.generate_frames(stored.PixelData, number_of_frames=120))

    response = api_client.get(instance_url(echo) + "/frames/1,60,120",
                              HTTP_ACCEPT='multipart/related; type="application/octet-stream"; transfer-syntax=*')

    parts = parse_multipart(response)
    assert response.status_code == 200
    assert [payload for _, payload in parts] == [expected[0], expected[59], expected[119]]
    assert parts[0][0]["Content-Type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50"


def test_a_repeated_frame_is_sent_once(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)
    stored = pydicom.dcmread(echo_path(echo))
    expected = list(pydicom.encaps.generate_frames(stored.PixelData, number_of_frames=120))

    response = api_client.get(instance_url(echo) + "/frames/" + ",".join(["60", "1"] + ["1"] * 1900 + ["60"]),
                              HTTP_ACCEPT='multipart/related; type="application/octet-stream"; transfer-syntax=*')

    assert response.status_code == 200
    assert [payload for _, payload in parse_multipart(response)] == [expected[59], expected[0]]


def test_frames_can_be_asked_for_uncompressed(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)

    response = api_client.get(instance_url(echo) + "/frames/2",
                              HTTP_ACCEPT='multipart/related; type="application/octet-stream"; '
                                          'transfer-syntax=1.2.840.10008.1.2.1')

    [(headers, payload)] = parse_multipart(response)
    assert headers["Content-Type"].endswith("transfer-syntax=1.2.840.10008.1.2.1")
    assert payload == pydicom.dcmread(echo_path(echo)).pixel_array[1].tobytes()


def test_frames_in_an_unavailable_syntax_are_refused_with_406(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)

    response = api_client.get(instance_url(echo) + "/frames/1",
                              HTTP_ACCEPT='multipart/related; type="image/jp2"')

    assert response.status_code == 406
    assert "stored as 1.2.840.10008.1.2.4.50" in response.json()["detail"]


def test_frame_out_of_range_is_a_400_naming_the_range(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)

    response = api_client.get(instance_url(echo) + "/frames/121")

    assert response.status_code == 400
    assert response.json()["detail"] == "frame 121 is out of range: the instance has frames 1..120"


def test_retrieve_instance_returns_the_de_identified_part10_file(api_client, reviewer, echo):
    api_client.force_authenticate(reviewer)

    response = api_client.get(instance_url(echo), HTTP_ACCEPT='multipart/related; type="application/dicom"')

    [(headers, payload)] = parse_multipart(response)
    assert headers["Content-Type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert payload == echo_path(echo).read_bytes()


def test_crowd_worker_sees_only_images_of_items_it_holds(api_client, annotator, echo, echo_project, assign):
    mr = Instance.objects.filter(project=echo_project, number_of_frames=1).select_related("series__study").first()
    api_client.force_authenticate(annotator)
    before = api_client.get(instance_url(echo) + "/frames/1")

    assignment = assign(annotator, instance=echo)
    during = api_client.get(instance_url(echo) + "/frames/1")
    other_image = api_client.get(instance_url(mr) + "/frames/1")
    listed = api_client.get(f"/dicomweb/{echo_project.slug}/instances").json()
    assignment.state = Assignment.State.SUBMITTED
    assignment.save()
    after = api_client.get(instance_url(echo) + "/metadata")

    assert (before.status_code, during.status_code, other_image.status_code, after.status_code) == (404, 200, 404, 404)
    assert [i["00080018"]["Value"][0] for i in listed] == [echo.sop_instance_uid]


def test_series_item_opens_every_instance_of_the_series(api_client, annotator, echo_project, assign):
    mr_series = Instance.objects.filter(project=echo_project, number_of_frames=1).first().series
    api_client.force_authenticate(annotator)

    assign(annotator, series=mr_series)

    listed = api_client.get(f"/dicomweb/{echo_project.slug}/studies/{mr_series.study.study_uid}/instances").json()
    assert len(listed) == 3


def test_expired_lease_closes_the_images(api_client, annotator, echo, assign):
    from datetime import timedelta

    from django.utils import timezone

    assignment = assign(annotator, instance=echo)
    assignment.lease_expires_at = timezone.now() - timedelta(seconds=1)
    assignment.save()
    api_client.force_authenticate(annotator)

    assert api_client.get(instance_url(echo) + "/frames/1").status_code == 404


def test_quarantined_instances_are_for_admins_only(api_client, admin_user, reviewer, annotator, project, ingest,
                                                   assign):
    ingest(project, ECHO_CINE)  # default policy: quarantine burned-in ultrasound
    echo = Instance.objects.select_related("series__study").get(project=project)
    assign(annotator, instance=echo)
    statuses = {}
    for user in (admin_user, reviewer, annotator):
        api_client.force_authenticate(user)
        statuses[user.username] = api_client.get(instance_url(echo) + "/metadata").status_code

    assert statuses == {"admin": 200, "cardiologist": 404, "crowd1": 404}


def test_outsiders_and_anonymous_users_get_nothing(api_client, outsider, echo):
    anonymous = api_client.get(instance_url(echo) + "/frames/1")
    api_client.force_authenticate(outsider)
    stranger = api_client.get(instance_url(echo) + "/frames/1")
    search = api_client.get(f"/dicomweb/{echo.project.slug}/studies")

    assert (anonymous.status_code, stranger.status_code, search.status_code) == (401, 404, 404)


def test_token_auth_works_for_scripts(api_client, reviewer, echo):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=reviewer)

    response = api_client.get(f"/dicomweb/{echo.project.slug}/studies", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200


def echo_path(instance):
    from cardiocrowd.imaging import storage

    return storage.instance_path(instance.relative_path)


@pytest.mark.parametrize("path", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small.dcm"])
def test_single_frame_compressed_mr_serves_its_pixels(api_client, reviewer, project, ingest, path):
    ingest(project, DICOM_DATA / "pydicom" / path)
    instance = Instance.objects.select_related("series__study").get(project=project)
    api_client.force_authenticate(reviewer)

    response = api_client.get(instance_url(instance) + "/frames/1",
                              HTTP_ACCEPT="multipart/related; type=application/octet-stream")

    [(_, payload)] = parse_multipart(response)
    assert payload == pydicom.dcmread(DICOM_DATA / "pydicom" / path).pixel_array.tobytes()
