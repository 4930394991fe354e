"""What may become an accepted result: never a tie or an empty consensus, never a learned label that
overrules unanimous answers, and never a silent flip of an accepted label by a whole-stage run.
Such items go to expert review; a reviewer cannot accept a tie."""
import pytest

from cardiocrowd.imaging.models import Study
from labeling.assignment import claim_next_task, submit_answer
from labeling.design import StageDesign, add_items_to_stage, append_stage
from labeling.estimation import reestimate_stage
from labeling.flow import aggregate_task
from labeling.models import (
    Answer,
    Assignment,
    AuditEvent,
    Consensus,
    ConsensusRun,
    Item,
    ResultProposal,
    RoutingDecision,
    Task,
    WorkerEstimate,
)
from labeling.quality import make_gold
from tests.conftest import new_stage
from tests.factories import UserFactory
from tests.labeling.test_estimation import TRUTH, answer, label_items


def review_stage(project):
    return append_stage(project=project, schema=None, user=None, design=StageDesign(
        name="Cardiologist review", kind="review", audience="expert", redundancy=1))


def new_item(project) -> Item:
    study = Study.objects.get_or_create(project=project, study_uid="2.25.700", patient_pseudonym="CCGUARD")[0]
    return Item.objects.create(project=project, study=study)


def answer_item(stage, item, values: list[dict]) -> Task:
    """Each value from a fresh crowd worker, then the completed task's aggregation."""
    add_items_to_stage(stage=stage, items=[item])
    for value in values:
        submit_answer(assignment=claim_next_task(stage=stage, worker=UserFactory()), value=value)
    task = Task.objects.get(stage=stage, item=item)
    aggregate_task(task_id=task.pk)
    return task


def test_a_run_that_would_flip_an_accepted_label_sends_it_to_review_and_keeps_the_label(project):
    stage = new_stage(project, redundancy=3)
    review = review_stage(project)
    crowd = {name: UserFactory(username=name) for name in ("careful", "mixed_up_1", "mixed_up_2")}
    items = label_items(project, stage, crowd, 12)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for item in items[:2]:  # two gold items anchor which way the confusion goes
        make_gold(task=tasks[item.pk], value=answer(TRUTH[items.index(item) % 3]), explanation="", source="admin",
                  by_id=None)
    flipped = items[3]  # truth A4C; the two mixed-up workers outvoted the careful one: accepted as PLAX
    before = Consensus.objects.get(task=tasks[flipped.pk]).fields

    run = reestimate_stage(stage_id=stage.pk, method="ds")

    flipped.refresh_from_db()
    assert (flipped.status, flipped.result) == ("accepted", answer("PLAX"))  # unchanged until experts decide
    proposal = ResultProposal.objects.get(item=flipped)
    assert (proposal.state, proposal.run_id, proposal.previous, proposal.proposed) == (
        "in_review", run.pk, answer("PLAX"), answer("A4C"))
    assert proposal.previous_consensus == before
    assert proposal.review_task == Task.objects.get(stage=review, item=flipped)
    assert proposal.review_task.source_task_id == tasks[flipped.pk].pk
    decision = RoutingDecision.objects.get(task=tasks[flipped.pk], reason="consensus_changed")
    assert (decision.action, decision.target_id) == ("send", review.pk)
    event = AuditEvent.objects.get(action="result.change_proposed", item=flipped)
    assert (event.detail["run"], event.detail["proposed"]) == (run.pk, answer("A4C"))
    assert not AuditEvent.objects.filter(action="result.revised").exists()


def test_an_expert_accepting_the_proposed_change_settles_it(project, reviewer):
    stage = new_stage(project, redundancy=3)
    review = review_stage(project)
    crowd = {name: UserFactory(username=name) for name in ("careful", "mixed_up_1", "mixed_up_2")}
    items = label_items(project, stage, crowd, 12)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for item in items[:2]:
        make_gold(task=tasks[item.pk], value=answer(TRUTH[items.index(item) % 3]), explanation="", source="admin",
                  by_id=None)
    reestimate_stage(stage_id=stage.pk, method="ds")
    proposal = ResultProposal.objects.get(item=items[3])

    assignment = claim_next_task(stage=review, worker=reviewer)
    while assignment.item_id != items[3].pk:  # other flipped items may come first
        submit_answer(assignment=assignment, value={}, verdict="accept")
        aggregate_task(task_id=assignment.task_id)
        assignment = claim_next_task(stage=review, worker=reviewer)
    submit_answer(assignment=assignment, value={}, verdict="accept")
    aggregate_task(task_id=assignment.task_id)

    item = Item.objects.get(pk=items[3].pk)
    assert (item.status, item.result, item.result_task_id) == ("accepted", answer("A4C"), proposal.review_task_id)
    assert ResultProposal.objects.get(pk=proposal.pk).state == "resolved"


def test_without_a_review_stage_the_proposal_waits_and_the_label_stays(project):
    stage = new_stage(project, redundancy=3)
    crowd = {name: UserFactory(username=name) for name in ("careful", "mixed_up_1", "mixed_up_2")}
    items = label_items(project, stage, crowd, 12)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for item in items[:2]:
        make_gold(task=tasks[item.pk], value=answer(TRUTH[items.index(item) % 3]), explanation="", source="admin",
                  by_id=None)

    reestimate_stage(stage_id=stage.pk, method="ds")

    item = Item.objects.get(pk=items[3].pk)
    assert (item.status, item.result) == ("accepted", answer("PLAX"))
    proposal = ResultProposal.objects.get(item=item)
    assert (proposal.state, proposal.review_task_id) == ("unrouted", None)
    decision = RoutingDecision.objects.get(task=tasks[item.pk], reason="consensus_changed")
    assert (decision.action, decision.target_id) == ("hold", None)


def learned_that_fair_means_good(stage, workers) -> None:
    """A finished run whose estimates say these workers answer "fair" mostly when the image is good:
    the learned posterior of two "fair" answers is "good"."""
    run = ConsensusRun.objects.create(stage=stage, method="dawid_skene", status="succeeded",
                                      class_priors={"quality": {"good": 0.9, "fair": 0.05, "poor": 0.05}})
    for worker in workers:
        WorkerEstimate.objects.create(stage=stage, worker=worker, field="quality", method="dawid_skene", run=run,
                                      reliability=0.3, answers=50, learned={
                                          # not the order jsonb gives the prior's keys: matched by name
                                          "labels": ["good", "fair", "poor"],
                                          "matrix": [[0.2, 0.7, 0.1], [0.3, 0.4, 0.3], [0.3, 0.3, 0.4]]})


def test_unanimous_answers_are_never_overridden_into_an_accepted_contradicting_label(project):
    stage = new_stage(project, redundancy=2)
    review = review_stage(project)
    item = new_item(project)
    add_items_to_stage(stage=stage, items=[item])
    workers = [UserFactory(), UserFactory()]
    learned_that_fair_means_good(stage, workers)
    for worker in workers:
        submit_answer(assignment=claim_next_task(stage=stage, worker=worker), value={"view": "A4C", "quality": "fair"})
    task = Task.objects.get(stage=stage, item=item)

    aggregate_task(task_id=task.pk)

    quality = Consensus.objects.get(task=task).fields["quality"]
    assert (quality["value"], quality["unanimous"]) == ("good", "fair")  # both kept for the reviewer
    item.refresh_from_db()
    assert (item.status, item.result) == ("in_progress", None)
    decision = RoutingDecision.objects.get(task=task)
    assert (decision.action, decision.target_id, decision.reason) == ("send", review.pk, "contradicts_vote")
    assert Task.objects.filter(stage=review, item=item).count() == 1


@pytest.mark.parametrize("with_review", [True, False])
def test_a_tie_is_never_accepted(project, with_review):
    stage = new_stage(project, redundancy=2)
    review = review_stage(project) if with_review else None
    item = new_item(project)

    task = answer_item(stage, item, [{"view": "A4C", "quality": "good"}, {"view": "PLAX", "quality": "good"}])

    item.refresh_from_db()
    assert (item.status, item.result) == ("in_progress", None)
    decision = RoutingDecision.objects.get(task=task)
    expected = ("send", review.pk) if with_review else ("hold", None)
    assert (decision.action, decision.target_id, decision.reason) == (*expected, "tie")


def test_all_skips_are_not_accepted_as_an_empty_result(project):
    stage = new_stage(project, redundancy=2)
    review = review_stage(project)
    item = new_item(project)
    add_items_to_stage(stage=stage, items=[item])
    for _ in range(2):
        submit_answer(assignment=claim_next_task(stage=stage, worker=UserFactory()), value={},
                      skip_reason="poor image quality")
    task = Task.objects.get(stage=stage, item=item)

    aggregate_task(task_id=task.pk)

    item.refresh_from_db()
    assert (item.status, item.result) == ("in_progress", None)
    decision = RoutingDecision.objects.get(task=task)
    assert (decision.action, decision.target_id, decision.reason) == ("send", review.pk, "empty")


def test_a_reviewer_cannot_accept_a_tie(api_client, project, reviewer):
    stage = new_stage(project, redundancy=2)
    review = review_stage(project)
    item = new_item(project)
    answer_item(stage, item, [{"view": "A4C", "quality": "good"}, {"view": "PLAX", "quality": "good"}])
    api_client.force_authenticate(reviewer)
    task = api_client.post(f"/api/projects/{project.slug}/stages/{review.pk}/next/").json()

    refused = api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"verdict": "accept"},
                              format="json")

    assert task["accept"]["allowed"] is False and task["accept"]["reason"] == "tie"
    assert refused.status_code == 409
    assert refused.json()["reason"] == "tie" and "tie" in refused.json()["detail"]
    assert Answer.objects.filter(task__stage=review).count() == 0
    assert Assignment.objects.get(pk=task["assignment"]).state == "open"
    item.refresh_from_db()
    assert (item.status, item.result) == ("in_progress", None)
    corrected = api_client.post(f"/api/assignments/{task['assignment']}/answer/",
                                {"verdict": "correct", "value": {"view": "A4C", "quality": "good"}}, format="json")
    assert corrected.status_code == 201


@pytest.mark.parametrize("method", ["auto", "mace", "ds"])
def test_a_whole_stage_run_keeps_a_tie_a_tie(api_client, project, reviewer, method):
    # Two newcomers who disagree: every model's posterior is 50/50, and a tie rule must not make a label
    # a reviewer could then accept.
    stage = new_stage(project, redundancy=2)
    review = review_stage(project)
    item = new_item(project)
    task = answer_item(stage, item, [{"view": "A4C", "quality": "good"}, {"view": "PLAX", "quality": "good"}])

    reestimate_stage(stage_id=stage.pk, method=method)

    view = Consensus.objects.get(task=task).fields["view"]
    assert view["value"] is None and view["posterior"]["A4C"] == view["posterior"]["PLAX"]
    api_client.force_authenticate(reviewer)
    served = api_client.post(f"/api/projects/{project.slug}/stages/{review.pk}/next/").json()
    assert served["accept"] == {**served["accept"], "allowed": False, "reason": "tie"}
    refused = api_client.post(f"/api/assignments/{served['assignment']}/answer/", {"verdict": "accept"},
                              format="json")
    assert refused.status_code == 409
