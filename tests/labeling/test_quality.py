"""Worker quality: gold scoring, the adaptive gold rate, qualification and blocking."""
import pytest

from cardiocrowd.accounts.models import Membership
from cardiocrowd.imaging.models import Study
from labeling.assignment import WorkerBlocked, claim_next_task, submit_answer
from labeling.design import add_items_to_stage, save_settings
from labeling.models import Item, Task, WorkerQuality
from labeling.quality import PROVEN_AFTER_GOLD, gold_rate, make_gold, score_against_gold
from labeling.templates import TEMPLATES
from tests.conftest import new_stage
from tests.factories import MembershipFactory, UserFactory

VIEWS = TEMPLATES["echo-view-classification"]["schema"]
A4C = {"view": "A4C", "quality": "good"}


def quality(reliability: float, gold_answered: int) -> WorkerQuality:
    return WorkerQuality(reliability=reliability, gold_answered=gold_answered)


def test_gold_is_scored_field_by_field_and_free_text_is_not():
    score = score_against_gold(VIEWS, {"view": "A4C", "quality": "poor", "comment": "x"}, {**A4C, "comment": "y"})

    assert (score.score, score.correct) == (0.5, False)
    assert score.fields["quality"] == {"correct": False, "expected": "good", "given": "poor"}
    assert "comment" not in score.fields


def test_the_gold_rate_falls_from_the_maximum_as_a_worker_proves_reliable(project):
    stage = new_stage(project, gold_rate_min=0.05, gold_rate_max=0.3)

    new_worker = gold_rate(stage, None, threshold=0.6)
    few_golds = gold_rate(stage, quality(0.95, 2), threshold=0.6)
    proven = gold_rate(stage, quality(1.0, PROVEN_AFTER_GOLD), threshold=0.6)
    doubtful = gold_rate(stage, quality(0.6, PROVEN_AFTER_GOLD * 2), threshold=0.6)

    assert new_worker == 0.3 and doubtful == 0.3
    assert proven == pytest.approx(0.05)
    assert 0.05 < few_golds < 0.3
    assert gold_rate(new_stage(project), None, threshold=0.6) == 0.0  # no gold in this stage


@pytest.fixture
def gold_stage(project):
    stage = new_stage(project, redundancy=1, gold_rate_min=1.0, gold_rate_max=1.0)
    study = Study.objects.create(project=project, study_uid="2.25.77", patient_pseudonym="CCGOLD")
    items = [Item.objects.create(project=project, study=study) for _ in range(8)]
    gold = Task.objects.create(stage=stage, item=items[0], kind="gold", open_slots=0, target_answers=0,
                               state="complete")
    make_gold(task=gold, value=A4C, explanation="", source="admin", by_id=None)
    add_items_to_stage(stage=stage, items=items[1:])
    save_settings(project=project, changes={"reliability_threshold": 0.5, "min_gold_for_blocking": 1},
                  user=UserFactory())
    return stage, gold


def test_a_skip_on_gold_is_no_evidence_either_way(gold_stage):
    stage, gold = gold_stage
    worker = UserFactory()

    assignment = claim_next_task(stage=stage, worker=worker)
    submit_answer(assignment=assignment, value={}, skip_reason="poor image quality")

    assert assignment.task_id == gold.pk
    assert WorkerQuality.objects.get(stage=stage, worker=worker).gold_answered == 0


def test_a_worker_wrong_on_gold_is_blocked_with_the_reason(gold_stage):
    stage, gold = gold_stage
    worker = UserFactory()

    submit_answer(assignment=claim_next_task(stage=stage, worker=worker), value={"view": "PLAX", "quality": "poor"})

    standing = WorkerQuality.objects.get(stage=stage, worker=worker)
    assert standing.reliability == pytest.approx(1 / 3)
    assert "reliability 0.33 on 1 gold answers" in standing.blocked_reason
    with pytest.raises(WorkerBlocked, match="below the project's threshold of 0.50"):
        claim_next_task(stage=stage, worker=worker)


def test_a_correction_made_gold_rescores_the_answers_it_already_had(project):
    stage = new_stage(project, redundancy=2)
    study = Study.objects.create(project=project, study_uid="2.25.78", patient_pseudonym="CCFIX")
    item = Item.objects.create(project=project, study=study)
    add_items_to_stage(stage=stage, items=[item])
    right, wrong = UserFactory(), UserFactory()
    submit_answer(assignment=claim_next_task(stage=stage, worker=right), value=A4C)
    submit_answer(assignment=claim_next_task(stage=stage, worker=wrong), value={"view": "PLAX", "quality": "good"})

    make_gold(task=Task.objects.get(stage=stage), value=A4C, explanation="A4C: four chambers", source="review",
              by_id=None)

    records = {q.worker_id: q for q in WorkerQuality.objects.filter(stage=stage)}
    assert (records[right.pk].gold_answered, records[right.pk].gold_correct) == (1, 1.0)
    assert (records[wrong.pk].gold_answered, records[wrong.pk].gold_correct) == (1, 0.5)
    assert Task.objects.get(stage=stage).kind == "gold"


def test_a_stage_that_asks_for_a_qualification_without_items_says_so(project):
    stage = new_stage(project, requires_qualification=True)

    with pytest.raises(WorkerBlocked, match="no qualification items yet"):
        claim_next_task(stage=stage, worker=UserFactory())


def test_a_skipped_gold_item_is_not_revealed_in_the_workers_record(api_client, project, gold_stage):
    stage, gold = gold_stage
    worker = MembershipFactory(project=project, role=Membership.Role.CROWD).user
    skipped = claim_next_task(stage=stage, worker=worker)
    submit_answer(assignment=skipped, value={}, skip_reason="poor image quality")
    answered = claim_next_task(stage=stage, worker=worker)
    submit_answer(assignment=answered, value=A4C)
    api_client.force_authenticate(worker)

    recent = api_client.get(f"/api/projects/{project.slug}/stages/{stage.pk}/me/").json()["recent"]

    assert skipped.task_id == gold.pk and answered.task.kind == "normal"
    assert [(entry["skipped"], entry["known_answer"], entry["correct"]) for entry in recent] == [
        ("", None, None), ("poor image quality", None, None)]
    assert "gold" not in str(recent)
