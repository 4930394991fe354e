from datetime import timedelta

import pytest
from django.utils import timezone

from cardiocrowd.accounts.models import Project
from labeling.models import Answer, Assignment, Task
from tests.conftest import ECHO_CINE, SUNNYBROOK_PATIENT

VIEW = {"view": "A4C", "quality": "good"}


@pytest.fixture
def pipeline(api_client, admin_user, project, ingest):
    """An admin's two-stage pipeline over an echo and an MR series, designed through the API."""
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    ingest(project, ECHO_CINE, SUNNYBROOK_PATIENT / "1.dcm", SUNNYBROOK_PATIENT / "2.dcm")
    api_client.force_authenticate(admin_user)
    base = f"/api/projects/{project.slug}"
    api_client.post(f"{base}/schemas/", {"name": "views", "template": "echo-view-classification"}, format="json")
    api_client.post(f"{base}/schemas/", {"name": "lvef", "template": "lvef-estimate"}, format="json")
    crowd = api_client.post(f"{base}/stages/", {"name": "Which view?", "schema": "views", "redundancy": 2},
                            format="json").json()
    expert = api_client.post(f"{base}/stages/", {"name": "LVEF", "schema": "lvef", "audience": "expert",
                                                 "redundancy": 1}, format="json").json()
    queued = api_client.post(f"{base}/stages/{crowd['id']}/items/", {}, format="json").json()
    api_client.force_authenticate(None)
    return {"crowd": crowd, "expert": expert, "queued": queued, "base": base}


def next_task(api_client, pipeline, stage="crowd"):
    return api_client.post(f"{pipeline['base']}/stages/{pipeline[stage]['id']}/next/")


def test_admin_designs_a_pipeline(pipeline):
    assert (pipeline["crowd"]["position"], pipeline["expert"]["position"]) == (1, 2)
    assert (pipeline["crowd"]["schema"], pipeline["crowd"]["schema_version"]) == ("views", 1)
    assert pipeline["queued"] == {"queued": 2}


def test_a_crowd_worker_labels_blind_and_the_images_open_for_the_lease(api_client, annotator, pipeline):
    api_client.force_authenticate(annotator)

    task = next_task(api_client, pipeline).json()
    instance = task["instances"][0]
    frame = api_client.get(f"{instance['url']}/frames/1")
    answered = api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")
    retried = api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")
    after = api_client.get(f"{instance['url']}/frames/1")

    assert set(task) == {"assignment", "stage", "lease_expires_at", "schema", "dicomweb", "instances"}
    assert task["schema"]["definition"]["fields"][0]["key"] == "view"
    assert frame.status_code == 200
    assert (answered.status_code, retried.status_code) == (201, 200)
    assert answered.json()["id"] == retried.json()["id"] and Answer.objects.count() == 1
    assert after.status_code == 404  # the lease ended with the answer


def test_a_worker_sees_their_own_record_in_a_stage(api_client, annotator, pipeline):
    api_client.force_authenticate(annotator)
    first = next_task(api_client, pipeline).json()
    api_client.post(f"/api/assignments/{first['assignment']}/answer/", {"value": VIEW}, format="json")
    second = next_task(api_client, pipeline).json()
    api_client.post(f"/api/assignments/{second['assignment']}/answer/", {"skip_reason": "poor image quality"},
                    format="json")

    standing = api_client.get(f"{pipeline['base']}/stages/{pipeline['crowd']['id']}/me/").json()

    assert (standing["answers"], standing["answers_today"]) == (2, 2)
    assert [entry["skipped"] for entry in standing["recent"]] == ["poor image quality", ""]
    assert all(entry["known_answer"] is None and entry["correct"] is None for entry in standing["recent"])


def test_a_worker_runs_out_of_tasks_with_204(api_client, annotator, pipeline):
    api_client.force_authenticate(annotator)
    for _ in range(2):
        task = next_task(api_client, pipeline).json()
        api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")

    assert next_task(api_client, pipeline).status_code == 204


def test_an_answer_that_does_not_fit_is_a_400_naming_the_field(api_client, annotator, pipeline):
    api_client.force_authenticate(annotator)
    task = next_task(api_client, pipeline).json()

    response = api_client.post(f"/api/assignments/{task['assignment']}/answer/",
                               {"value": {"view": "A4C", "quality": "blurry"}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"value": {"quality": ["'blurry' is not one of ['good', 'fair', 'poor']"]}}
    assert Answer.objects.count() == 0


def test_answering_an_assignment_you_do_not_hold_is_a_404(api_client, annotator, other_annotator, pipeline):
    api_client.force_authenticate(annotator)
    task = next_task(api_client, pipeline).json()
    api_client.force_authenticate(other_annotator)

    response = api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")

    assert response.status_code == 404 and Answer.objects.count() == 0


def test_an_expired_lease_is_a_409_and_the_slot_returns(api_client, annotator, pipeline):
    api_client.force_authenticate(annotator)
    task = next_task(api_client, pipeline).json()
    Assignment.objects.filter(pk=task["assignment"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    response = api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")

    assert response.status_code == 409
    assert sorted(Task.objects.values_list("open_slots", flat=True)) == [2, 2]


def test_each_tier_takes_only_its_own_stages(api_client, annotator, reviewer, outsider, pipeline):
    api_client.force_authenticate(reviewer)
    expert_on_crowd = next_task(api_client, pipeline, "crowd").status_code
    api_client.force_authenticate(annotator)
    crowd_on_expert = next_task(api_client, pipeline, "expert").status_code
    api_client.force_authenticate(outsider)
    stranger = next_task(api_client, pipeline, "crowd").status_code

    assert (expert_on_crowd, crowd_on_expert, stranger) == (403, 403, 404)
    assert Assignment.objects.count() == 0


def test_only_admins_design_stages(api_client, reviewer, pipeline):
    api_client.force_authenticate(reviewer)

    response = api_client.post(f"{pipeline['base']}/stages/", {"name": "x", "schema": "views"}, format="json")

    assert response.status_code == 403


def test_unsure_crowd_items_are_routed_to_the_expert_stage(api_client, admin_user, annotator, other_annotator,
                                                           reviewer, pipeline, django_capture_on_commit_callbacks):
    from labeling.models import RoutingDecision

    api_client.force_authenticate(admin_user)
    routing = api_client.put(f"{pipeline['base']}/stages/{pipeline['crowd']['id']}/routing/", {"routing": [
        {"if": {"confidence_below": 0.8}, "then": {"send_to": 2}}, {"if": "always", "then": "accept"}]},
        format="json")
    answers = {annotator: ["A4C", "A4C"], other_annotator: ["PLAX", "A4C"]}  # item 1 split, item 2 agreed
    with django_capture_on_commit_callbacks(execute=True):
        for worker, views in answers.items():
            api_client.force_authenticate(worker)
            for view in views:
                task = next_task(api_client, pipeline).json()
                api_client.post(f"/api/assignments/{task['assignment']}/answer/",
                                {"value": {"view": view, "quality": "good"}}, format="json")
    api_client.force_authenticate(reviewer)
    expert_task = next_task(api_client, pipeline, "expert")

    assert routing.status_code == 200 and routing.json()["routing"][0]["then"] == {"send_to": 2}
    assert sorted(RoutingDecision.objects.values_list("action", "rule")) == [("accept", 1), ("send", 0)]
    assert expert_task.status_code == 200
    assert expert_task.json()["schema"]["name"] == "lvef"
    assert next_task(api_client, pipeline, "expert").status_code == 200  # the same lease: one item routed


def test_routing_to_a_missing_stage_is_refused_naming_the_rule(api_client, admin_user, pipeline):
    api_client.force_authenticate(admin_user)

    response = api_client.put(f"{pipeline['base']}/stages/{pipeline['crowd']['id']}/routing/",
                              {"routing": [{"if": "always", "then": {"send_to": 7}}]}, format="json")

    assert response.status_code == 400
    assert "another stage's position" in response.json()["routing"]["0"][0]


def test_an_admin_clones_the_design_but_not_the_data(api_client, admin_user, pipeline, project):
    from cardiocrowd.accounts.models import Project

    api_client.force_authenticate(admin_user)

    response = api_client.post(f"{pipeline['base']}/clone/", {"slug": "echo-study-2", "name": "Second"},
                               format="json")
    stages = api_client.get("/api/projects/echo-study-2/stages/").json()

    clone = Project.objects.get(slug="echo-study-2")
    assert response.status_code == 201
    assert [(s["name"], s["position"], s["audience"], s["schema"]) for s in stages] == [
        ("Which view?", 1, "crowd", "views"), ("LVEF", 2, "expert", "lvef")]
    assert clone.pixel_mask_rules == project.pixel_mask_rules
    assert clone.pseudonym_secret != project.pseudonym_secret
    assert (clone.items.count(), clone.instances.count()) == (0, 0)


def test_a_crowd_worker_cannot_clone(api_client, annotator, pipeline):
    api_client.force_authenticate(annotator)

    response = api_client.post(f"{pipeline['base']}/clone/", {"slug": "mine", "name": "Mine"}, format="json")

    assert response.status_code == 403
