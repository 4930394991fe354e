"""A tie in the crowd is never accepted: the item comes to the cardiologist, whose Accept button is
disabled with the reason beside it (the server refuses it too); correcting it settles the item."""
from __future__ import annotations

from cardiocrowd.accounts.models import Project
from labeling.assignment import claim_next_task, submit_answer
from labeling.design import StageDesign, append_stage, queue_series
from labeling.flow import aggregate_task
from labeling.models import Answer, Item, RoutingDecision, Task
from tests.conftest import ECHO_CINE, new_stage
from tests.e2e.conftest import screenshot, sign_in


def test_the_accept_button_is_disabled_with_the_reason_on_a_tie(
        browser_for, project, ingest, annotator, other_annotator, reviewer):
    project.burned_in_policy = Project.BurnedInPolicy.MASK
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    ingest(project, ECHO_CINE)
    stage = new_stage(project, redundancy=2)
    review = append_stage(project=project, schema=None, user=None, design=StageDesign(
        name="Cardiologist review", kind="review", audience="expert", redundancy=1))
    queue_series(stage=stage, series_uids=None)
    for worker, view in [(annotator, "A4C"), (other_annotator, "PLAX")]:
        submit_answer(assignment=claim_next_task(stage=stage, worker=worker), value={"view": view, "quality": "good"})
    task = Task.objects.get(stage=stage)
    aggregate_task(task_id=task.pk)
    assert RoutingDecision.objects.get(task=task).reason == "tie"

    expert = browser_for("cardiologist")
    sign_in(expert, "cardiologist")
    expert.goto(f"{expert.base_url}/app/projects/{project.slug}/stages/{review.pk}/review")
    accept = expert.get_by_role("button", name="Accept")
    accept.wait_for()
    reason = expert.get_by_test_id("accept-status")
    screenshot(expert, "review-tie-accept-disabled")

    assert accept.is_disabled()
    assert "tie" in reason.inner_text()
    assert accept.get_attribute("aria-describedby") == "accept-refused"
    expert.keyboard.press("a")  # the shortcut is refused too
    assert Answer.objects.filter(task__stage=review).count() == 0
    expert.get_by_role("button", name="Correct…").click()
    expert.get_by_role("region", name="Correction").get_by_role("radio", name="Apical 4-chamber").click()
    expert.get_by_role("button", name="Submit correction").click()
    expert.get_by_text("Nothing is waiting for your review").wait_for()
    verdict = Answer.objects.get(task__stage=review)
    assert (verdict.verdict, verdict.value["view"]) == ("correct", "A4C")
    item = Item.objects.get(pk=task.item_id)
    assert (item.status, item.result["view"]) == ("accepted", "A4C")
