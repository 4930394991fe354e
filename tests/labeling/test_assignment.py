import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from labeling.assignment import (
    AssignmentClosed,
    NoTaskAvailable,
    claim_next_task,
    release_expired_leases,
    submit_answer,
)
from labeling.design import add_items_to_stage
from labeling.models import Answer, Assignment, Item, Task
from labeling.schema import AnswerError
from tests.conftest import new_stage
from tests.factories import UserFactory

VIEW = {"view": "A4C", "quality": "good"}


@pytest.fixture
def items(project):
    from cardiocrowd.imaging.models import Study

    study = Study.objects.create(project=project, study_uid="2.25.1", patient_pseudonym="CCTEST")
    return [Item.objects.create(project=project, study=study) for _ in range(4)]


def test_tasks_are_served_by_priority_then_first_in_first_out(project, items, annotator):
    stage = new_stage(project, redundancy=1)
    add_items_to_stage(stage=stage, items=items)
    Task.objects.filter(item=items[2]).update(priority=5.0)

    served = []
    for _ in range(4):
        assignment = claim_next_task(stage=stage, worker=annotator)
        served.append(assignment.item_id)
        submit_answer(assignment=assignment, value=VIEW)

    assert served == [items[2].pk, items[0].pk, items[1].pk, items[3].pk]


def test_a_worker_never_gets_the_same_item_twice_in_a_stage(project, items, annotator):
    stage = new_stage(project, redundancy=3)
    add_items_to_stage(stage=stage, items=items[:2])

    first = claim_next_task(stage=stage, worker=annotator)
    submit_answer(assignment=first, value=VIEW)
    second = claim_next_task(stage=stage, worker=annotator)
    submit_answer(assignment=second, value=VIEW)

    assert {first.item_id, second.item_id} == {items[0].pk, items[1].pk}
    with pytest.raises(NoTaskAvailable):
        claim_next_task(stage=stage, worker=annotator)


def test_no_item_gets_more_answers_than_its_redundancy(project, items):
    stage = new_stage(project, redundancy=2)
    add_items_to_stage(stage=stage, items=items[:1])
    workers = [UserFactory() for _ in range(3)]

    for worker in workers[:2]:
        submit_answer(assignment=claim_next_task(stage=stage, worker=worker), value=VIEW)

    with pytest.raises(NoTaskAvailable):
        claim_next_task(stage=stage, worker=workers[2])
    task = Task.objects.get(stage=stage)
    assert (task.state, task.answer_count, task.open_slots) == ("complete", 2, 0)


def test_asking_twice_for_next_returns_the_same_lease(project, items, annotator):
    stage = new_stage(project)
    add_items_to_stage(stage=stage, items=items)

    first = claim_next_task(stage=stage, worker=annotator)
    again = claim_next_task(stage=stage, worker=annotator)

    assert again.pk == first.pk
    assert Assignment.objects.filter(worker=annotator).count() == 1


def test_the_task_after_the_one_held_is_leased_ahead_and_served_next(project, items, annotator):
    stage = new_stage(project, redundancy=1)
    add_items_to_stage(stage=stage, items=items[:3])

    current = claim_next_task(stage=stage, worker=annotator)
    ahead = claim_next_task(stage=stage, worker=annotator, after=current.pk)
    ahead_again = claim_next_task(stage=stage, worker=annotator, after=current.pk)
    submit_answer(assignment=current, value=VIEW)
    served = claim_next_task(stage=stage, worker=annotator)

    assert ahead.pk != current.pk and ahead.item_id == items[1].pk
    assert ahead_again.pk == ahead.pk  # a repeated prefetch takes no third slot
    assert served.pk == ahead.pk
    assert Assignment.objects.filter(worker=annotator, state="open").count() == 1


def test_a_retried_submit_stores_one_answer(project, items, annotator):
    stage = new_stage(project)
    add_items_to_stage(stage=stage, items=items[:1])
    assignment = claim_next_task(stage=stage, worker=annotator)

    first = submit_answer(assignment=assignment, value=VIEW)
    retried = submit_answer(assignment=assignment, value={"view": "PLAX", "quality": "poor"})

    assert (first.created, retried.created) == (True, False)
    assert retried.answer.pk == first.answer.pk and retried.answer.value == VIEW
    assert Answer.objects.count() == 1 and Task.objects.get(stage=stage).answer_count == 1


def test_an_answer_that_does_not_fit_stores_nothing(project, items, annotator):
    stage = new_stage(project)
    add_items_to_stage(stage=stage, items=items[:1])
    assignment = claim_next_task(stage=stage, worker=annotator)

    with pytest.raises(AnswerError, match="view: 'A9C' is not one of"):
        submit_answer(assignment=assignment, value={"view": "A9C", "quality": "good"})

    assignment.refresh_from_db()
    assert assignment.state == "open" and Answer.objects.count() == 0


def test_a_skip_with_a_reason_is_an_answer(project, items, annotator):
    stage = new_stage(project)
    add_items_to_stage(stage=stage, items=items[:1])

    answer = submit_answer(assignment=claim_next_task(stage=stage, worker=annotator), value={},
                           skip_reason="poor image quality").answer

    assert (answer.value, answer.skip_reason) == ({}, "poor image quality")


def test_an_expired_lease_cannot_be_submitted_and_its_slot_returns(project, items, annotator, other_annotator):
    stage = new_stage(project, redundancy=1)
    add_items_to_stage(stage=stage, items=items[:1])
    assignment = claim_next_task(stage=stage, worker=annotator)
    Assignment.objects.filter(pk=assignment.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(AssignmentClosed):
        submit_answer(assignment=assignment, value=VIEW)

    assert Task.objects.get(stage=stage).open_slots == 1
    assert claim_next_task(stage=stage, worker=other_annotator).item_id == items[0].pk


def test_the_sweep_returns_every_expired_lease(project, items):
    stage = new_stage(project, redundancy=1)
    add_items_to_stage(stage=stage, items=items)
    leases = [claim_next_task(stage=stage, worker=UserFactory()) for _ in range(4)]
    Assignment.objects.filter(pk__in=[lease.pk for lease in leases[:3]]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))

    returned = release_expired_leases()

    assert returned == 3
    assert sorted(Task.objects.filter(stage=stage).values_list("open_slots", flat=True)) == [0, 1, 1, 1]
    assert Assignment.objects.filter(state="expired").count() == 3


@pytest.mark.django_db(transaction=True)
def test_many_workers_at_once_never_share_a_slot_nor_lose_an_answer(project):
    """Real concurrency on the real PostgreSQL: 16 threads, each its own connection."""
    from cardiocrowd.imaging.models import Study

    study = Study.objects.create(project=project, study_uid="2.25.2", patient_pseudonym="CCLOAD")
    stage = new_stage(project, redundancy=3, lease_seconds=1)
    items = [Item.objects.create(project=project, study=study) for _ in range(40)]
    add_items_to_stage(stage=stage, items=items)
    workers = [UserFactory() for _ in range(16)]
    acknowledged, abandoned, errors = [], [], []

    def work(worker, abandon_every: int) -> None:
        try:
            claims = 0
            while True:
                try:
                    assignment = claim_next_task(stage=stage, worker=worker)
                except NoTaskAvailable:
                    return
                claims += 1
                if abandon_every and claims % abandon_every == 0:
                    abandoned.append(assignment.pk)  # closes the tab: the lease must expire and return
                    return
                try:
                    answer = submit_answer(assignment=assignment, value=VIEW).answer
                except AssignmentClosed:
                    continue  # too slow for the 1 s lease: the slot went back, ask for the next
                acknowledged.append(answer.pk)
        except Exception as error:  # noqa: BLE001 - any failure in a worker thread fails the test
            errors.append(repr(error))
        finally:
            connection.close()

    def round_of(abandon_every: int) -> None:
        threads = [threading.Thread(target=work, args=(worker, abandon_every)) for worker in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    round_of(abandon_every=4)
    time.sleep(1.1)
    returned = release_expired_leases()
    workers = [UserFactory() for _ in range(16)]  # fresh workers finish what was abandoned
    round_of(abandon_every=0)

    assert errors == []
    assert abandoned and returned == len(abandoned)
    tasks = list(Task.objects.filter(stage=stage))
    assert all((task.state, task.answer_count) == ("complete", 3) for task in tasks)
    answers = Answer.objects.filter(task__stage=stage)
    assert answers.count() == 120 == len(acknowledged) == len(set(acknowledged))
    assert len(set(answers.values_list("task_id", "worker_id"))) == 120


def test_a_complete_task_gets_a_majority_vote_consensus(project, items, django_capture_on_commit_callbacks):
    from labeling.models import Consensus

    stage = new_stage(project, redundancy=4)
    add_items_to_stage(stage=stage, items=items[:1])
    values = [VIEW, VIEW, {"view": "PLAX", "quality": "good"}, None]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for value in values:
            assignment = claim_next_task(stage=stage, worker=UserFactory())
            if value is None:
                submit_answer(assignment=assignment, value={}, skip_reason="not this view")
            else:
                submit_answer(assignment=assignment, value=value)

    consensus = Consensus.objects.get(task__stage=stage)
    assert len(callbacks) == 1  # aggregation is queued once, when the last answer completes the task
    assert consensus.fields == {"view": {"value": "A4C", "share": 0.6667, "votes": 3},
                                "quality": {"value": "good", "share": 1.0, "votes": 3}}
    assert (consensus.method, consensus.confidence, consensus.answer_count) == ("majority_vote", 0.6667, 4)


def test_aggregating_twice_leaves_one_consensus(project, items):
    from labeling.flow import aggregate_task
    from labeling.models import Consensus

    stage = new_stage(project, redundancy=1)
    add_items_to_stage(stage=stage, items=items[:1])
    submit_answer(assignment=claim_next_task(stage=stage, worker=UserFactory()), value=VIEW)
    task = Task.objects.get(stage=stage)

    aggregate_task(task_id=task.pk)
    aggregate_task(task_id=task.pk)

    assert Consensus.objects.filter(task=task).count() == 1


@pytest.mark.django_db(transaction=True)
def test_gold_and_adaptive_redundancy_hold_under_concurrency(project):
    """12 threads on a stage with gold mixed in (half the tasks) and adaptive redundancy (2 to 4
    answers while workers disagree): every normal task ends with exactly its target of answers,
    each decided once; nobody answers an item or a gold twice."""
    from cardiocrowd.imaging.models import Study
    from labeling.models import RoutingDecision
    from labeling.quality import make_gold

    study = Study.objects.create(project=project, study_uid="2.25.3", patient_pseudonym="CCGOLDLOAD")
    stage = new_stage(project, redundancy=2, max_redundancy=4, confidence_target=0.9, gold_rate_min=0.5,
                      gold_rate_max=0.5)
    items = [Item.objects.create(project=project, study=study) for _ in range(24)]
    for item in items[:4]:
        gold = Task.objects.create(stage=stage, item=item, kind="gold", open_slots=0, target_answers=0,
                                   state="complete")
        make_gold(task=gold, value=VIEW, explanation="", source="admin", by_id=None)
    add_items_to_stage(stage=stage, items=items[4:])
    workers = [UserFactory() for _ in range(12)]
    errors = []

    def work(number: int, worker) -> None:
        misses = 0
        try:
            while misses < 20:  # a task may reopen for one more answer just after we found none
                try:
                    assignment = claim_next_task(stage=stage, worker=worker)
                except NoTaskAvailable:
                    misses += 1
                    time.sleep(0.05)
                    continue
                view = "A4C" if number % 3 else "PLAX"  # a third of the workers disagree
                submit_answer(assignment=assignment, value={"view": view, "quality": "good"})
        except Exception as error:  # noqa: BLE001 - any failure in a worker thread fails the test
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n, w)) for n, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    normal = list(Task.objects.filter(stage=stage, kind="normal"))
    assert all(t.state == "complete" and t.answer_count == t.target_answers and 2 <= t.target_answers <= 4
               for t in normal)
    assert any(t.target_answers > 2 for t in normal)  # disagreement asked for more answers
    assert RoutingDecision.objects.filter(task__stage=stage).count() == len(normal)
    answers = Answer.objects.filter(task__stage=stage)
    assert answers.filter(task__kind="gold").exists()
    assert len(set(answers.values_list("task_id", "worker_id"))) == answers.count()
