"""The project dashboard: progress, throughput and consensus confidence per stage, items by
status; for project admins only, in a fixed number of queries."""
from datetime import timedelta

import pytest
from django.utils import timezone

from cardiocrowd.imaging.models import Study
from labeling.assignment import claim_next_task, submit_answer
from labeling.design import StageDesign, add_items_to_stage, append_stage
from labeling.models import Answer, Consensus, Item, Task
from labeling.selectors import project_dashboard
from tests.conftest import new_stage
from tests.factories import ProjectFactory

A4C = {"view": "A4C", "quality": "good"}
PLAX = {"view": "PLAX", "quality": "good"}


def url(project) -> str:
    return f"/api/projects/{project.slug}/dashboard/"


def make_items(project, count: int, study_uid: str = "2.25.77") -> list[Item]:
    study = Study.objects.create(project=project, study_uid=study_uid, patient_pseudonym="CCDASH")
    return [Item.objects.create(project=project, study=study) for _ in range(count)]


def answer_all(stage, workers, values) -> list[Answer]:
    """Each worker answers the stage's next task; returns the answers in order."""
    answers = []
    for worker, value in zip(workers, values, strict=True):
        submitted = submit_answer(assignment=claim_next_task(stage=stage, worker=worker), value=value)
        answers.append(submitted.answer)
    return answers


def set_age(answers: list[Answer], now, age: timedelta) -> None:
    Answer.objects.filter(pk__in=[answer.pk for answer in answers]).update(created_at=now - age)


@pytest.fixture
def pipeline(project, annotator, other_annotator):
    """A crowd stage (2 answers per item) with four items and one gold item, and an empty review
    stage after it. Items 1 to 3 have their two answers and a consensus (confidence 1, 0.5, 0);
    item 4 is still open. Answers: two 10 minutes ago, one 90 minutes ago, one 23.5 hours ago and
    two 30 hours ago."""
    crowd = new_stage(project, redundancy=2)
    review = append_stage(project=project, schema=None, user=None, design=StageDesign(
        name="Cardiologist review", kind="review", audience="expert", redundancy=1))
    items = make_items(project, 5)
    add_items_to_stage(stage=crowd, items=items[:4])
    Task.objects.create(stage=crowd, item=items[4], kind=Task.Kind.GOLD, state=Task.State.COMPLETE, open_slots=0,
                        target_answers=0)
    first = answer_all(crowd, [annotator, other_annotator], [A4C, A4C])
    second = answer_all(crowd, [annotator, other_annotator], [A4C, PLAX])
    third = answer_all(crowd, [annotator, other_annotator], [PLAX, PLAX])
    now = timezone.now()
    set_age(first, now, timedelta(minutes=10))
    set_age(second[:1], now, timedelta(minutes=90))
    set_age(second[1:], now, timedelta(hours=23, minutes=30))
    set_age(third, now, timedelta(hours=30))
    tasks = {task.item_id: task for task in Task.objects.filter(stage=crowd)}
    for item, confidence in zip(items[:3], [1.0, 0.5, 0.0], strict=True):
        Consensus.objects.create(task=tasks[item.pk], method="majority_vote", fields={}, confidence=confidence,
                                 answer_count=2)
    Item.objects.filter(pk=items[0].pk).update(status=Item.Status.ACCEPTED)
    Item.objects.filter(pk=items[1].pk).update(status=Item.Status.REJECTED)
    return {"crowd": crowd, "review": review, "items": items}


def test_an_admin_sees_progress_throughput_and_confidence_per_stage(api_client, project, admin_user, pipeline):
    api_client.force_authenticate(admin_user)

    response = api_client.get(url(project))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["items"] == {"total": 5, "accepted": 1, "rejected": 1, "in_progress": 3}
    crowd, review = body["stages"]
    assert {key: crowd[key] for key in ("id", "name", "kind", "audience", "position")} == {
        "id": pipeline["crowd"].pk, "name": "Which view?", "kind": "label", "audience": "crowd", "position": 1}
    assert crowd["tasks"] == {"total": 4, "open": 1, "complete": 3}  # the gold item is not counted
    assert (crowd["answers"], crowd["answers_last_24h"]) == (6, 4)
    assert crowd["throughput"] == [1] + [0] * 21 + [1, 2]
    assert crowd["confidence_histogram"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert crowd["mean_confidence"] == 0.5
    assert review == {
        "id": pipeline["review"].pk, "name": "Cardiologist review", "kind": "review", "audience": "expert",
        "position": 2, "tasks": {"total": 0, "open": 0, "complete": 0}, "answers": 0, "answers_last_24h": 0,
        "throughput": [0] * 24, "confidence_histogram": [0] * 10, "mean_confidence": None}


def test_the_dashboard_takes_the_same_few_queries_however_large_the_project(
        api_client, project, admin_user, pipeline, django_assert_max_num_queries):
    for number in range(3):
        extra = new_stage(project, redundancy=1)
        add_items_to_stage(stage=extra, items=make_items(project, 4, study_uid=f"2.25.9{number}"))
    api_client.force_authenticate(admin_user)

    with django_assert_max_num_queries(5):  # membership, stages with task counts, answers, consensus, items
        response = api_client.get(url(project))

    assert response.status_code == 200
    assert [stage["position"] for stage in response.json()["stages"]] == [1, 2, 3, 4, 5]
    assert response.json()["items"]["total"] == 17


def test_only_the_projects_own_work_is_counted(api_client, project, admin_user, pipeline, annotator):
    elsewhere = ProjectFactory(slug="other-study")
    stage = new_stage(elsewhere, redundancy=1)
    add_items_to_stage(stage=stage, items=make_items(elsewhere, 1, study_uid="2.25.88"))
    answer_all(stage, [annotator], [A4C])
    Consensus.objects.create(task=Task.objects.get(stage=stage), method="majority_vote", fields={}, confidence=0.9,
                             answer_count=1)
    api_client.force_authenticate(admin_user)

    body = api_client.get(url(project)).json()

    assert [stage["answers"] for stage in body["stages"]] == [6, 0]
    assert body["stages"][0]["confidence_histogram"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert body["items"]["total"] == 5


def test_hours_are_counted_back_from_now_and_the_window_is_24_hours(project, annotator, other_annotator):
    stage = new_stage(project, redundancy=1)
    add_items_to_stage(stage=stage, items=make_items(project, 5))
    answers = answer_all(stage, [annotator] * 5, [A4C] * 5)
    now = timezone.now()
    for answer, age in zip(answers, [timedelta(0), timedelta(minutes=59, seconds=59), timedelta(hours=1),
                                     timedelta(hours=23, minutes=59), timedelta(hours=24)], strict=True):
        set_age([answer], now, age)

    [counted] = project_dashboard(project, now=now)["stages"]

    assert counted["throughput"] == [1] + [0] * 21 + [1, 2]  # exactly 24 hours old: out of the window
    assert (counted["answers"], counted["answers_last_24h"]) == (5, 4)


@pytest.mark.parametrize("who, status", [("annotator", 403), ("reviewer", 403), ("outsider", 404)])
def test_only_project_admins_see_the_dashboard(api_client, project, pipeline, request, who, status):
    api_client.force_authenticate(request.getfixturevalue(who))

    response = api_client.get(url(project))

    assert response.status_code == status
    assert "stages" not in response.json()


def test_an_unknown_project_is_not_found(api_client, admin_user):
    api_client.force_authenticate(admin_user)

    response = api_client.get("/api/projects/no-such-project/dashboard/")

    assert response.status_code == 404
