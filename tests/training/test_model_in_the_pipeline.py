"""The model at work in the pipeline: routing rules weigh it with the crowd, and stages that allow it
show its prediction as a pre-label whose use the answer records."""
import pytest

from labeling.flow import aggregate_task
from labeling.models import Answer, AuditEvent, Task
from labeling.observer_agreement import stage_agreement
from tests.factories import MembershipFactory, UserFactory
from training import services
from training.models import Prediction


@pytest.fixture
def trained(mr_stage, admin_user, django_capture_on_commit_callbacks):
    spec = services.create_spec(stage=mr_stage["stage"], field="level", user=admin_user, size=32, epochs=2,
                                strategy="entropy", train_layers="all")
    with django_capture_on_commit_callbacks(execute=True):
        services.request_run(spec=spec)
    return {**mr_stage, "spec": spec, "predictions": {p.item_id: p for p in Prediction.objects.filter(
        version__spec=spec)}}


def worker(project):
    return MembershipFactory(project=project, role="crowd", user=UserFactory()).user


def test_when_model_and_crowd_disagree_the_crowd_answers_once_more(trained, api_client):
    stage = trained["stage"]
    stage.routing = [{"if": {"model_agrees": False}, "then": "one_more"}, {"if": "always", "then": "accept"}]
    stage.max_redundancy = 2
    stage.save(update_fields=["routing", "max_redundancy"])
    person = worker(stage.project)
    api_client.force_authenticate(person)

    task = api_client.post(f"/api/projects/{stage.project.slug}/stages/{stage.pk}/next/").json()
    item = Task.objects.get(assignments__pk=task["assignment"]).item_id
    model_says = trained["predictions"][item].value
    api_client.post(f"/api/assignments/{task['assignment']}/answer/",
                    {"value": {"level": "mid" if model_says == "basal" else "basal"}}, format="json")
    aggregate_task(task_id=Task.objects.get(stage=stage, item_id=item).pk)

    routed = Task.objects.get(stage=stage, item_id=item)
    assert (routed.state, routed.target_answers, routed.open_slots) == ("open", 2, 1)
    assert AuditEvent.objects.get(action="redundancy.raised", item_id=item).detail["rule"] == 0


def test_a_stage_that_shows_pre_labels_serves_the_model_answer_and_records_its_use(trained, api_client):
    stage = trained["stage"]
    stage.show_prelabels = True
    stage.save(update_fields=["show_prelabels"])
    person = worker(stage.project)
    api_client.force_authenticate(person)
    base = f"/api/projects/{stage.project.slug}/stages/{stage.pk}/next/"

    first = api_client.post(base).json()
    item = Task.objects.get(assignments__pk=first["assignment"]).item_id
    answered = api_client.post(f"/api/assignments/{first['assignment']}/answer/",
                               {"value": first["prelabel"], "from_prelabel": True}, format="json")
    second = api_client.post(base).json()
    api_client.post(f"/api/assignments/{second['assignment']}/answer/", {"value": {"level": "mid"}}, format="json")

    assert first["prelabel"] == {"level": trained["predictions"][item].value}
    assert answered.status_code == 201 and answered.json()["prelabel"] == first["prelabel"]
    assert Answer.objects.get(assignment_id=first["assignment"]).prelabel == first["prelabel"]
    assert Answer.objects.get(assignment_id=second["assignment"]).prelabel is None
    anchoring = stage_agreement(stage)["fields"]["level"]["prelabel"]
    assert (anchoring["answers_from_prelabel"], anchoring["kept_prelabel_share"]) == (1, 1.0)
    assert anchoring["answers_without_prelabel"] == 12 + 1  # the fixture's labels and the second answer


def test_a_stage_without_pre_labels_serves_none(trained, api_client):
    stage = trained["stage"]
    api_client.force_authenticate(worker(stage.project))

    task = api_client.post(f"/api/projects/{stage.project.slug}/stages/{stage.pk}/next/").json()

    assert "prelabel" not in task
