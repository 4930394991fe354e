"""Each label stage's consensus method: admins pin it through the stage API, crowd workers never see
it, and whole-stage runs use it, recording per field the method used and auto's evidence."""
import pytest

from labeling.consensus.selection import CANDIDATES as AUTO_CANDIDATES
from labeling.estimation import METHOD_NAMES, reestimate_stage
from labeling.models import Stage, WorkerEstimate
from tests.conftest import new_stage
from tests.factories import UserFactory
from tests.labeling.test_estimation import label_items

CANDIDATES = set(AUTO_CANDIDATES)


def stage_url(project, stage) -> str:
    return f"/api/projects/{project.slug}/stages/{stage.pk}/"


@pytest.fixture
def crowd(project):
    return {name: UserFactory(username=name) for name in ("careful", "mixed_up_1", "mixed_up_2")}


def test_a_new_stage_chooses_its_method_automatically(api_client, project, admin_user):
    api_client.force_authenticate(admin_user)
    api_client.post(f"/api/projects/{project.slug}/schemas/", {"name": "views", "template": "echo-view-classification"},
                    format="json")

    created = api_client.post(f"/api/projects/{project.slug}/stages/", {"name": "Which view?", "schema": "views"},
                              format="json")

    assert created.status_code == 201 and created.json()["consensus_method"] == "auto"


def test_an_admin_pins_a_stage_method(api_client, project, admin_user):
    stage = new_stage(project)
    api_client.force_authenticate(admin_user)

    pinned = api_client.patch(stage_url(project, stage), {"consensus_method": "mace"}, format="json")
    refused = api_client.patch(stage_url(project, stage), {"consensus_method": "coin_toss"}, format="json")

    assert pinned.status_code == 200 and pinned.json()["consensus_method"] == "mace"
    assert refused.status_code == 400 and "consensus_method" in refused.json()
    assert Stage.objects.get(pk=stage.pk).consensus_method == "mace"


def test_a_crowd_worker_can_neither_set_nor_see_the_method(api_client, project, annotator):
    stage = new_stage(project)
    api_client.force_authenticate(annotator)

    refused = api_client.patch(stage_url(project, stage), {"consensus_method": "mv"}, format="json")
    shown = api_client.get(stage_url(project, stage))
    listed = api_client.get(f"/api/projects/{project.slug}/stages/")

    assert refused.status_code == 403
    assert Stage.objects.get(pk=stage.pk).consensus_method == "auto"
    assert shown.status_code == 200 and "consensus_method" not in shown.json()
    assert all("consensus_method" not in entry for entry in listed.json())


def test_a_run_uses_the_pinned_method_for_every_categorical_field(project, crowd):
    stage = new_stage(project, redundancy=3, consensus_method="mace")
    label_items(project, stage, crowd, 6)

    run = reestimate_stage(stage_id=stage.pk)

    assert run.method == "mace"
    assert run.selection == {"view": {"requested": "mace", "method": "mace"},
                             "quality": {"requested": "mace", "method": "mace"}}
    assert set(WorkerEstimate.objects.filter(stage=stage).values_list("method", flat=True)) == {"mace"}


def test_an_auto_run_records_the_method_it_chose_and_why(api_client, project, admin_user, crowd):
    stage = new_stage(project, redundancy=3)
    label_items(project, stage, crowd, 9)

    run = reestimate_stage(stage_id=stage.pk)

    view = run.selection["view"]
    assert view["requested"] == "auto" and view["method"] in CANDIDATES
    assert view["basis"] in ("known_answers", "answers_per_worker") and view["reason"]
    assert set(view["scores"]) == CANDIDATES
    used = {METHOD_NAMES[entry["method"]] for entry in run.selection.values()}
    assert set(run.method.split("+")) == used, (run.method, run.selection)
    api_client.force_authenticate(admin_user)
    [shown] = api_client.get(f"/api/projects/{project.slug}/dashboard/").json()["stages"]
    assert shown["consensus_method"] == "auto"
    assert shown["last_run"]["id"] == run.pk and shown["last_run"]["fields"] == run.selection
    assert shown["proposals"] == {"in_review": 0, "unrouted": 0}
