"""Answers through the API on real images: what does not fit is refused naming the field, and
nothing is stored; spatial answers on an item of several images name their image."""
import pytest

from cardiocrowd.accounts.models import Project
from labeling.models import Answer, Assignment
from tests.conftest import ECHO_CINE, SUNNYBROOK_PATIENT

SCHEMA = {"fields": [
    {"key": "lvef", "kind": "number", "unit": "%", "min": 5, "max": 90},
    {"key": "view", "kind": "single_choice", "options": [{"value": "A4C", "label": "A4C"},
                                                         {"value": "PLAX", "label": "PLAX"}]},
    {"key": "lv", "kind": "contour"},
    {"key": "mask", "kind": "brush_mask"},
    {"key": "phases", "kind": "frame_selection", "labels": ["ED", "ES"]},
]}


def lease(api_client, admin_user, annotator, project, *series_paths, ingest):
    ingest(project, *series_paths)
    base = f"/api/projects/{project.slug}"
    api_client.force_authenticate(admin_user)
    api_client.post(f"{base}/schemas/", {"name": "echo", "definition": SCHEMA}, format="json")
    stage = api_client.post(f"{base}/stages/", {"name": "Measure", "schema": "echo", "redundancy": 1},
                            format="json").json()
    api_client.post(f"{base}/stages/{stage['id']}/items/", {}, format="json")
    api_client.force_authenticate(annotator)
    return api_client.post(f"{base}/stages/{stage['id']}/next/").json()


@pytest.fixture
def echo_task(api_client, admin_user, annotator, project, ingest):
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    return lease(api_client, admin_user, annotator, project, ECHO_CINE, ingest=ingest)


BAD = [  # the echo is 640 × 480 with 120 frames
    ({"lvef": "55"}, "lvef", "a number"),
    ({"lvef": 95}, "lvef", "outside 5..90"),
    ({"view": 4}, "view", "is not one of"),
    ({"mask": {"frame": 1, "rows": 100, "columns": 100, "rle": [10000]}}, "mask", "the image 640×480"),
    ({"lv": {"frame": 1, "points": [[10, 10], [20, 20]]}}, "lv", "at least 3 points"),
    ({"phases": {"ED": 1, "ES": 121}}, "phases", "outside 1..120"),
    ({"lv": {"frame": 121, "points": [[10, 10], [20, 20], [10, 30]]}}, "lv", "frame 121 is outside 1..120"),
]


@pytest.mark.parametrize("value, field, message", BAD, ids=[f"{f}: {m}" for _, f, m in BAD])
def test_an_answer_that_does_not_fit_is_a_400_naming_the_field(api_client, echo_task, value, field, message):
    response = api_client.post(f"/api/assignments/{echo_task['assignment']}/answer/", {"value": value},
                               format="json")

    assert response.status_code == 400
    assert message in response.json()["value"][field][0]
    assert Answer.objects.count() == 0
    assert Assignment.objects.get(pk=echo_task["assignment"]).state == "open"


def test_a_measured_answer_on_the_echo_is_stored_in_millimetres(api_client, echo_task):
    runs = [1000, 200, 640 * 480 - 1200]
    response = api_client.post(f"/api/assignments/{echo_task['assignment']}/answer/", {"value": {
        "lvef": 55, "lv": {"frame": 14, "points": [[300, 200], [340, 200], [340, 260], [300, 260]]},
        "mask": {"frame": 14, "rows": 480, "columns": 640, "rle": runs}, "phases": {"ED": 1, "ES": 14}}},
        format="json")

    assert response.status_code == 201, response.content
    stored = Answer.objects.get().value
    assert stored["lv"]["instance"] == echo_task["instances"][0]["sop_instance_uid"]
    assert "area_mm2" in stored["lv"] and stored["mask"]["rle"] == runs


def test_on_a_series_of_several_images_the_answer_names_its_image(api_client, admin_user, annotator, project, ingest):
    task = lease(api_client, admin_user, annotator, project, SUNNYBROOK_PATIENT / "1.dcm",
                 SUNNYBROOK_PATIENT / "2.dcm", ingest=ingest)
    second = task["instances"][1]["sop_instance_uid"]
    contour = {"frame": 1, "points": [[100, 100], [140, 100], [140, 130]]}
    url = f"/api/assignments/{task['assignment']}/answer/"

    unnamed = api_client.post(url, {"value": {"lv": contour}}, format="json")
    stranger = api_client.post(url, {"value": {"lv": {**contour, "instance": "2.25.1"}}}, format="json")
    named = api_client.post(url, {"value": {"lv": {**contour, "instance": second}}}, format="json")

    assert len(task["instances"]) == 2
    assert unnamed.status_code == 400 and "name the one you drew on" in unnamed.json()["value"]["lv"][0]
    assert stranger.status_code == 400 and "not an image of this item" in stranger.json()["value"]["lv"][0]
    assert named.status_code == 201, named.content
    stored = Answer.objects.get().value["lv"]
    assert stored["instance"] == second and stored["area_mm2"] > 0  # Sunnybrook pixels are calibrated (1.37 mm)
