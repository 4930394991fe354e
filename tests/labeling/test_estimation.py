"""Whole-stage consensus runs: Dawid-Skene over a stage's answers learns who to trust, revises
consensus and results, and weights the next items' consensus."""
import numpy as np
import pytest

from cardiocrowd.imaging.models import Study
from labeling.assignment import claim_next_task, submit_answer
from labeling.consensus.calibration import Calibration, describe_consensus
from labeling.design import add_items_to_stage
from labeling.estimation import reestimate_stage, stages_due
from labeling.flow import aggregate_task
from labeling.models import AuditEvent, Consensus, ConsensusRun, Item, ResultProposal, Task, WorkerEstimate
from labeling.quality import make_gold
from tests.conftest import new_stage
from tests.factories import UserFactory

TRUTH = ["A4C", "PLAX", "A2C"]


def answer(view: str) -> dict:
    return {"view": view, "quality": "good"}


@pytest.fixture
def crowd(project):
    """Three workers: `careful` is always right; `mixed_up_1` and `mixed_up_2` always answer PLAX
    for an A4C and A4C for a PLAX (the same systematic confusion), right otherwise."""
    return {name: UserFactory(username=name) for name in ("careful", "mixed_up_1", "mixed_up_2")}


def swap(view: str) -> str:
    return {"A4C": "PLAX", "PLAX": "A4C"}.get(view, view)


def label_items(project, stage, crowd, count: int, offset: int = 0) -> list[Item]:
    study = Study.objects.get_or_create(project=project, study_uid="2.25.500", patient_pseudonym="CCDS")[0]
    items = [Item.objects.create(project=project, study=study) for _ in range(count)]
    add_items_to_stage(stage=stage, items=items)
    for number, item in enumerate(items, start=offset):
        truth = TRUTH[number % 3]
        for name, worker in crowd.items():
            assignment = claim_next_task(stage=stage, worker=worker)
            assert assignment.item_id == item.pk
            submit_answer(assignment=assignment, value=answer(truth if name == "careful" else swap(truth)))
        aggregate_task(task_id=Task.objects.get(stage=stage, item=item).pk)
    return items


def test_a_run_learns_who_to_trust_and_revises_consensus_and_results(project, crowd):
    stage = new_stage(project, redundancy=3)
    items = label_items(project, stage, crowd, 12)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for item in items[:2]:  # two gold items anchor which way the confusion goes
        make_gold(task=tasks[item.pk], value=answer(TRUTH[items.index(item) % 3]), explanation="", source="admin",
                  by_id=None)
    voted = Consensus.objects.get(task=tasks[items[3].pk]).fields["view"]["value"]  # truth A4C, votes PLAX

    run = reestimate_stage(stage_id=stage.pk, method="ds")

    estimates = {e.worker.username: e for e in WorkerEstimate.objects.filter(stage=stage, field="view")}
    assert (run.status, run.method, run.answers) == ("succeeded", "dawid_skene", 36)
    assert run.calibration == {}  # two experts' answers are too few to calibrate on
    confusion = estimates["mixed_up_1"].learned
    labels = confusion["labels"]
    row = confusion["matrix"][labels.index("A4C")]  # what they answer when the truth is A4C
    assert max(row) == row[labels.index("PLAX")] > 0.6  # learned the swap
    assert estimates["careful"].reliability > 0.7 > 0.6 > estimates["mixed_up_1"].reliability
    revised = Consensus.objects.get(task=tasks[items[3].pk])
    assert voted == "PLAX" and revised.fields["view"]["value"] == "A4C" and revised.method == "dawid_skene"
    item = Item.objects.get(pk=items[3].pk)
    assert item.result["view"] == "PLAX"  # accepted: the change is proposed, never applied silently
    assert ResultProposal.objects.get(item=item).proposed["view"] == "A4C"
    assert AuditEvent.objects.filter(action="result.change_proposed", item=item).exists()
    assert run.revised > 0


def test_a_second_run_on_the_same_answers_changes_nothing(project, crowd):
    stage = new_stage(project, redundancy=3)
    label_items(project, stage, crowd, 6)
    reestimate_stage(stage_id=stage.pk, method="ds")
    before = list(Consensus.objects.filter(task__stage=stage).order_by("pk").values_list("fields", "confidence"))

    again = reestimate_stage(stage_id=stage.pk, method="ds")

    assert again.revised == 0
    assert list(Consensus.objects.filter(task__stage=stage).order_by("pk").values_list("fields", "confidence")) \
        == before
    assert WorkerEstimate.objects.filter(stage=stage).count() == 3 * 2  # one per worker and field, not doubled


def test_after_a_run_new_items_are_weighted_by_what_it_learned(project, crowd):
    stage = new_stage(project, redundancy=3)
    items = label_items(project, stage, crowd, 9)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for index in range(3):
        make_gold(task=tasks[items[index].pk], value=answer(TRUTH[index]), explanation="", source="admin", by_id=None)
    reestimate_stage(stage_id=stage.pk, method="ds")

    [new_item] = label_items(project, stage, crowd, 1, offset=0)  # truth A4C; the two mixed-up say PLAX

    consensus = Consensus.objects.get(task__item=new_item)
    assert consensus.method == "dawid_skene"
    assert consensus.fields["view"]["value"] == "A4C" and consensus.fields["view"]["share"] > 0.9


def test_stages_with_new_answers_are_due_and_an_interrupted_run_is_marked(project, crowd):
    stage = new_stage(project, redundancy=3)
    label_items(project, stage, crowd, 3)
    assert [stage_id for stage_id, _ in stages_due()] == [stage.pk]
    stale = ConsensusRun.objects.create(stage=stage, method="dawid_skene")  # a worker died during it

    reestimate_stage(stage_id=stage.pk, method="ds")

    stale.refresh_from_db()
    assert stale.status == "failed" and "interrupted" in stale.error
    assert stages_due() == []
    label_items(project, stage, crowd, 1, offset=1)
    assert [stage_id for stage_id, _ in stages_due()] == [stage.pk]


def test_a_run_learns_each_readers_bias_on_a_measurement(project):
    from labeling.design import StageDesign, append_stage, save_schema_version
    from labeling.templates import TEMPLATES

    schema = save_schema_version(project=project, name="lvef", user=None,
                                 definition=TEMPLATES["lvef-estimate"]["schema"])
    stage = append_stage(project=project, schema=schema, user=None, design=StageDesign(name="LVEF", redundancy=3))
    readers = {"exact": 0, "generous": 10, "other": 0}  # "generous" reads every LVEF 10 points high
    users = {name: UserFactory(username=name) for name in readers}
    study = Study.objects.create(project=project, study_uid="2.25.501", patient_pseudonym="CCEF")
    truths = [25, 35, 45, 55, 60, 65, 40, 50, 30, 58]
    items = [Item.objects.create(project=project, study=study) for _ in truths]
    add_items_to_stage(stage=stage, items=items)
    for number, truth in enumerate(truths):
        for name, user in users.items():
            wobble = (number % 3 - 1) * (2 if name == "other" else 0)
            submit_answer(assignment=claim_next_task(stage=stage, worker=user),
                          value={"lvef": truth + readers[name] + wobble})
        aggregate_task(task_id=Task.objects.get(stage=stage, item=items[number]).pk)

    for number in range(3):  # an expert's reading of three echoes anchors who is biased which way
        make_gold(task=Task.objects.get(stage=stage, item=items[number]), value={"lvef": truths[number]},
                  explanation="", source="admin", by_id=None)

    run = reestimate_stage(stage_id=stage.pk, method="ds")

    learned = {e.worker.username: e.learned for e in WorkerEstimate.objects.filter(stage=stage, field="lvef")}
    assert run.method == "robust_measurement" and run.status == "succeeded"
    assert learned["generous"]["bias"] > 5 > abs(learned["exact"]["bias"])
    consensus = Consensus.objects.get(task__item=items[3])  # truth 55: readers said 55, 65 and 55
    lower, upper = consensus.fields["lvef"]["interval"]
    assert abs(consensus.fields["lvef"]["value"] - 55) < 2 and lower < 55 < upper


def test_a_run_decides_each_option_of_a_multiple_choice_field(project):
    from labeling.design import StageDesign, append_stage, save_schema_version

    schema = save_schema_version(project=project, name="valves", user=None, definition={"fields": [
        {"key": "valves", "kind": "multiple_choice", "options": [
            {"value": "MR", "label": "Mitral regurgitation"}, {"value": "AR", "label": "Aortic regurgitation"},
            {"value": "TR", "label": "Tricuspid regurgitation"}]}]})
    stage = append_stage(project=project, schema=schema, user=None, design=StageDesign(name="Valves", redundancy=3))
    readers = {name: UserFactory(username=name) for name in ("a", "b", "c")}
    study = Study.objects.create(project=project, study_uid="2.25.502", patient_pseudonym="CCMR")
    items = [Item.objects.create(project=project, study=study) for _ in range(6)]
    add_items_to_stage(stage=stage, items=items)
    for item in items:
        for name, user in readers.items():  # everyone sees the MR; only "c" also ticks TR, every time
            submit_answer(assignment=claim_next_task(stage=stage, worker=user),
                          value={"valves": ["MR", "TR"] if name == "c" else ["MR"]})
        aggregate_task(task_id=Task.objects.get(stage=stage, item=item).pk)

    run = reestimate_stage(stage_id=stage.pk, method="ds")

    consensus = Consensus.objects.get(task__item=items[0])
    assert run.status == "succeeded" and consensus.fields["valves"]["value"] == ["MR"]
    assert 0.5 < consensus.fields["valves"]["share"] <= 1.0
    learned = WorkerEstimate.objects.get(stage=stage, worker=readers["c"], field="valves").learned
    assert learned["options"] and len(learned["reliability"]) == len(learned["options"])


def noisy_crowd_labels(project, stage, *, count: int, seed: int) -> tuple[list[Item], list[str]]:
    """`count` items answered by three of five readers who are right 60 % of the time and otherwise
    pick another of three views at random. Returns the items and their true views."""
    rng = np.random.default_rng(seed)
    readers = [UserFactory(username=f"reader{number}") for number in range(5)]
    study = Study.objects.get_or_create(project=project, study_uid="2.25.503", patient_pseudonym="CCCAL")[0]
    items = [Item.objects.create(project=project, study=study) for _ in range(count)]
    add_items_to_stage(stage=stage, items=items)
    truths = [TRUTH[int(rng.integers(3))] for _ in items]
    for item, truth in zip(items, truths, strict=True):
        for index in rng.choice(5, size=3, replace=False):
            assignment = claim_next_task(stage=stage, worker=readers[index])
            assert assignment.item_id == item.pk
            view = truth if rng.random() < 0.6 else str(rng.choice([v for v in TRUTH if v != truth]))
            submit_answer(assignment=assignment, value=answer(view))
        aggregate_task(task_id=Task.objects.get(stage=stage, item=item).pk)
    return items, truths


def test_a_run_calibrates_confidence_on_what_experts_confirmed_and_corrected(project):
    stage = new_stage(project, redundancy=3)
    items, truths = noisy_crowd_labels(project, stage, count=80, seed=3)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for item, truth in zip(items[:60], truths[:60], strict=True):  # experts know 60 of them
        make_gold(task=tasks[item.pk], value=answer(truth), explanation="", source="admin", by_id=None)

    run = reestimate_stage(stage_id=stage.pk, method="ds")

    fitted = run.calibration["view"]
    assert fitted["features"] == ["log_odds_ds", "log_odds_mv", "log_answers"]
    assert fitted["confirmed"] + fitted["corrected"] == 60 and min(fitted["confirmed"], fitted["corrected"]) >= 10
    assert "quality" not in run.calibration  # everyone said "good": nothing was ever corrected
    calibration = Calibration.from_json(fitted)
    for item in items[60:]:
        consensus = Consensus.objects.get(task=tasks[item.pk])
        view = consensus.fields["view"]
        given = [a.value["view"] for a in tasks[item.pk].answers.all()]
        features = describe_consensus({"ds": [view["share"]], "mv": [given.count(view["value"]) / 3]}, [3])
        # (the stored share is rounded to 4 places, the run used the exact posterior)
        assert view["calibrated"] == pytest.approx(float(calibration.probability_right(features)[0]), abs=1e-3)
        assert consensus.fields["quality"]["calibrated"] is None
        assert consensus.confidence == min(view["calibrated"], consensus.fields["quality"]["share"])


def test_after_a_calibrating_run_a_completing_task_is_routed_on_its_calibrated_confidence(project):
    stage = new_stage(project, redundancy=3)
    items, truths = noisy_crowd_labels(project, stage, count=60, seed=3)
    tasks = {task.item_id: task for task in Task.objects.filter(stage=stage)}
    for item, truth in zip(items, truths, strict=True):
        make_gold(task=tasks[item.pk], value=answer(truth), explanation="", source="admin", by_id=None)
    run = reestimate_stage(stage_id=stage.pk, method="ds")
    stage.routing = [{"if": {"confidence_below": 0.99}, "then": "accept"}]  # any rule: it records the confidence
    stage.save(update_fields=["routing"])

    [item] = label_items(project, stage, {name: UserFactory(username=name) for name in ("x", "y", "z")}, 1)

    consensus = Consensus.objects.get(task__item=item)
    view = consensus.fields["view"]
    given = [a.value["view"] for a in consensus.task.answers.all()]  # label_items: all but "careful" swap A4C
    features = describe_consensus({"ds": [view["share"]], "mv": [given.count(view["value"]) / 3]}, [3])
    expected = float(Calibration.from_json(run.calibration["view"]).probability_right(features)[0])
    assert given == ["PLAX"] * 3 and view["calibrated"] == pytest.approx(expected, abs=1e-3)
    assert consensus.confidence == min(view["calibrated"], consensus.fields["quality"]["share"])
    decided = AuditEvent.objects.get(action="routing.decided", item=item)
    assert decided.detail["confidence"] == consensus.confidence


def test_items_decided_by_expert_review_count_as_checked(project):
    from labeling.design import StageDesign, append_stage
    from labeling.estimation import expert_decided_labels

    stage = new_stage(project, redundancy=3)
    review = append_stage(project=project, schema=None, user=None, design=StageDesign(
        name="Review", kind="review", audience="expert", redundancy=1))
    study = Study.objects.create(project=project, study_uid="2.25.504", patient_pseudonym="CCREV")
    reviewed, accepted_by_crowd, pending = (Item.objects.create(project=project, study=study) for _ in range(3))
    add_items_to_stage(stage=stage, items=[reviewed, accepted_by_crowd, pending])
    review_task = Task.objects.create(stage=review, item=reviewed, open_slots=0)
    crowd_task = Task.objects.get(stage=stage, item=accepted_by_crowd)
    Item.objects.filter(pk=reviewed.pk).update(status=Item.Status.ACCEPTED, result=answer("A2C"),
                                               result_task=review_task)
    Item.objects.filter(pk=accepted_by_crowd.pk).update(status=Item.Status.ACCEPTED, result=answer("A4C"),
                                                        result_task=crowd_task)

    assert expert_decided_labels(stage) == {Task.objects.get(stage=stage, item=reviewed).pk: answer("A2C")}
