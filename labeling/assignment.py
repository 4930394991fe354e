"""Serving tasks to workers: leases, answers, and the gold and qualification tasks mixed in.

Under concurrency the database does the arbitration: a task row is taken FOR UPDATE SKIP
LOCKED (concurrent workers never wait for each other nor take the same slot), open slots are
counted on the task row, and (task, worker, round) is unique, so nobody answers an item twice.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from . import audit
from .models import Answer, Assignment, Consensus, LabelSchema, Stage, Task, WorkerQuality
from .quality import gold_rate, pipeline_settings, record_gold_result, score_against_gold
from .schema import AnswerError, ImageGeometry, validate_answer


class NoTaskAvailable(Exception):
    """Nothing in this stage is left for this worker now."""


class WorkerBlocked(Exception):
    """The worker may not take tasks in this stage; the message says why."""


class AssignmentClosed(Exception):
    """The assignment's lease ran out or was given back; its answer can no longer be taken."""


# Highest priority first, FIFO among equals. The partial index task_to_serve (stage, priority
# desc, id where open, normal, with slots) serves the ORDER BY; the slot is taken and the lease
# written in the same statement. A crowd worker is never served a task they had in any round.
CLAIM_NORMAL_SQL = """
WITH picked AS (
    SELECT t.id, t.item_id, t.round FROM labeling_task t
    WHERE t.stage_id = %(stage)s AND t.state = 'open' AND t.open_slots > 0 AND t.kind = 'normal'
      AND NOT EXISTS (SELECT 1 FROM labeling_assignment a
                      WHERE a.task_id = t.id AND a.worker_id = %(worker)s AND (%(fresh_eyes)s OR a.round = t.round))
    ORDER BY t.priority DESC, t.id
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
), taken AS (
    UPDATE labeling_task t SET open_slots = t.open_slots - 1 FROM picked WHERE t.id = picked.id
    RETURNING t.id, t.item_id, t.round
)
INSERT INTO labeling_assignment (task_id, item_id, worker_id, round, state, leased_at, lease_expires_at)
SELECT id, item_id, %(worker)s, round, 'open', now(), now() + make_interval(secs => %(lease)s) FROM taken
RETURNING id
"""

# Gold and qualification tasks have no slots: every worker of the stage may answer each once.
CLAIM_KNOWN_ANSWER_SQL = """
INSERT INTO labeling_assignment (task_id, item_id, worker_id, round, state, leased_at, lease_expires_at)
SELECT t.id, t.item_id, %(worker)s, t.round, 'open', now(), now() + make_interval(secs => %(lease)s)
FROM labeling_task t
WHERE t.stage_id = %(stage)s AND t.kind = %(kind)s
  AND NOT EXISTS (SELECT 1 FROM labeling_assignment a WHERE a.task_id = t.id AND a.worker_id = %(worker)s)
ORDER BY t.id
LIMIT 1
ON CONFLICT DO NOTHING
RETURNING id
"""


@transaction.atomic
def claim_next_task(*, stage: Stage, worker: AbstractBaseUser) -> Assignment:
    """Lease the next task of `stage` to `worker`: the qualification set first where the stage
    asks for one, then normal tasks with gold mixed in at the worker's gold rate.
    Raises NoTaskAvailable, WorkerBlocked.

    A worker who already holds an open lease in the stage gets it again (a double click on
    "next" must not take two slots)."""
    held = Assignment.objects.held_by(worker).filter(task__stage=stage).first()
    if held is not None:
        return held
    quality = WorkerQuality.objects.filter(stage=stage, worker=worker).first()
    if quality is not None and quality.blocked_reason:
        raise WorkerBlocked(quality.blocked_reason)
    if stage.requires_qualification and (quality is None or quality.qualification != quality.Qualification.PASSED):
        return _claim_qualification(stage, worker)
    if stage.gold_rate_max > 0:
        threshold = pipeline_settings(stage.project_id).reliability_threshold
        if random.random() < gold_rate(stage, quality, threshold):
            gold = _claim(CLAIM_KNOWN_ANSWER_SQL, stage, worker, kind=Task.Kind.GOLD)
            if gold is not None:
                return gold
    assignment = _claim(CLAIM_NORMAL_SQL, stage, worker, fresh_eyes=stage.audience == Stage.Audience.CROWD)
    if assignment is None:
        raise NoTaskAvailable(stage.pk)
    return assignment


def _claim_qualification(stage: Stage, worker: AbstractBaseUser) -> Assignment:
    assignment = _claim(CLAIM_KNOWN_ANSWER_SQL, stage, worker, kind=Task.Kind.QUALIFICATION)
    if assignment is not None:
        return assignment
    if not stage.tasks.filter(kind=Task.Kind.QUALIFICATION).exists():
        raise WorkerBlocked("This stage asks for a qualification but has no qualification items yet; "
                            "the project admin must add some.")
    raise NoTaskAvailable(stage.pk)


def _claim(sql: str, stage: Stage, worker: AbstractBaseUser, **params) -> Assignment | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"stage": stage.pk, "worker": worker.pk, "lease": stage.lease_seconds, **params})
        row = cursor.fetchone()
    return None if row is None else Assignment.objects.select_related("task").get(pk=row[0])


@transaction.atomic
def release_expired_leases() -> int:
    """Expire every open lease past its time and give its slot back. Returns how many."""
    expired = list(Assignment.objects.select_for_update(skip_locked=True)
                   .filter(state=Assignment.State.OPEN, lease_expires_at__lte=timezone.now())
                   .values_list("pk", "task_id", "round"))
    _give_back(expired)
    return len(expired)


def _give_back(expired: list[tuple[int, int, int]]) -> None:
    Assignment.objects.filter(pk__in=[pk for pk, _, _ in expired]).update(state=Assignment.State.EXPIRED)
    for (task_id, round_), count in Counter((task_id, round_) for _, task_id, round_ in expired).items():
        # Only a lease of the task's current round held one of its slots.
        Task.objects.filter(pk=task_id, round=round_, kind=Task.Kind.NORMAL).update(
            open_slots=F("open_slots") + count)


@dataclass(frozen=True)
class Submission:
    answer: Answer
    created: bool  # False: a retried submit, nothing new stored
    feedback: dict | None = None  # qualification items only: how the answer compares with the gold


def submit_answer(*, assignment: Assignment, value: dict, skip_reason: str = "", verdict: str = "", note: str = "",
                  images: dict[str, ImageGeometry] | None = None) -> Submission:
    """Record the worker's answer, reasoned skip or (in a review stage) verdict, and close the
    lease. A retried submit returns the first answer and stores nothing.
    Raises AssignmentClosed, schema.AnswerError (nothing is stored then)."""
    try:
        return _record_answer(assignment_id=assignment.pk, value=value, skip_reason=skip_reason, verdict=verdict,
                              note=note, images=images)
    except _LeaseRanOut:
        _expire(assignment.pk)  # in a transaction of its own: the slot goes back to the pool now
        raise AssignmentClosed(assignment.pk) from None


class _LeaseRanOut(Exception):
    pass


@transaction.atomic
def _record_answer(*, assignment_id: int, value: dict, skip_reason: str, verdict: str, note: str,
                   images: dict[str, ImageGeometry] | None) -> Submission:
    assignment = (Assignment.objects.select_for_update(of=("self",))
                  .select_related("task__stage__schema", "task__gold").get(pk=assignment_id))
    if assignment.state == Assignment.State.SUBMITTED:
        return Submission(assignment.answer, False, _feedback(assignment.answer))
    if assignment.state != Assignment.State.OPEN:
        raise AssignmentClosed(assignment.pk)
    if assignment.lease_expires_at is not None and assignment.lease_expires_at <= timezone.now():
        raise _LeaseRanOut
    task, stage = assignment.task, assignment.task.stage
    if stage.kind == Stage.Kind.LABEL:
        schema = stage.schema
        normalized = {} if skip_reason else validate_answer(schema.definition, value, images)
        verdict = ""
    else:
        schema, normalized = _review_verdict(task, verdict, value, images)
    answer = Answer.objects.create(assignment=assignment, task=task, worker_id=assignment.worker_id, schema=schema,
                                   round=assignment.round, value=normalized, skip_reason=skip_reason[:200],
                                   verdict=verdict, note=note)
    assignment.state = Assignment.State.SUBMITTED
    assignment.save(update_fields=["state"])
    if task.kind != Task.Kind.NORMAL:
        return _score_known_answer(task, answer, schema)
    if verdict:
        audit.record("review.submitted", project_id=stage.project_id, actor_id=answer.worker_id, stage_id=stage.pk,
                     item_id=task.item_id, task_id=task.pk, schema_id=schema.pk, verdict=verdict)
    _count_answer(task.pk, assignment.round)
    return Submission(answer, True)


def _count_answer(task_id: int, round_: int) -> None:
    task = Task.objects.select_for_update().select_related("stage").get(pk=task_id)
    if task.round != round_:
        return  # the task was sent back and began a new round: this answer stays on record only
    task.answer_count += 1
    if task.answer_count >= task.target_answers and task.state == Task.State.OPEN:
        task.state = Task.State.COMPLETE
        from .tasks import aggregate_task_task

        transaction.on_commit(lambda: aggregate_task_task.delay(task.pk))
    task.save(update_fields=["answer_count", "state"])


def _score_known_answer(task: Task, answer: Answer, schema: LabelSchema) -> Submission:
    score = None if answer.skip_reason else score_against_gold(schema.definition, answer.value, task.gold.value)
    if score is not None:
        answer.gold_score = score.as_json()
        answer.save(update_fields=["gold_score"])
    quality = record_gold_result(task=task, answer=answer, score=score)
    return Submission(answer, True, _feedback(answer, quality))


def _feedback(answer: Answer, quality: WorkerQuality | None = None) -> dict | None:
    """What a worker learns from a qualification answer: right or wrong per field, the expected
    answer and the expert's explanation. Gold in the normal stream gets none, so it stays
    indistinguishable from a normal item."""
    task = answer.task
    if task.kind != Task.Kind.QUALIFICATION:
        return None
    quality = quality or WorkerQuality.objects.get(stage_id=task.stage_id, worker_id=answer.worker_id)
    return {
        **(answer.gold_score or {"score": 0.0, "correct": False, "fields": {}}),
        "explanation": task.gold.explanation,
        "qualification": {"status": quality.qualification, "answered": quality.qualification_answered,
                          "right": quality.qualification_correct,
                          "of": task.stage.tasks.filter(kind=Task.Kind.QUALIFICATION).count()},
    }


def _review_verdict(task: Task, verdict: str, value: dict, images: dict[str, ImageGeometry] | None
                    ) -> tuple[LabelSchema, dict]:
    """A reviewer's verdict on what the reviewed task concluded, as the label it stands for:
    the reviewed consensus (accept), the reviewer's correction (correct) or nothing (reject)."""
    reviewed = reviewed_label_task(task)
    schema = reviewed.stage.schema
    if verdict == Answer.Verdict.ACCEPT:
        return schema, consensus_label(task.source_task)
    if verdict == Answer.Verdict.CORRECT:
        return schema, validate_answer(schema.definition, value, images)
    if verdict == Answer.Verdict.REJECT:
        return schema, {}
    raise AnswerError("verdict", "a review is one of accept, correct, reject")


def reviewed_label_task(task: Task) -> Task:
    """The label-stage task at the root of what a review (or adjudication) task reviews."""
    current = task.source_task
    while current is not None and current.stage.kind != Stage.Kind.LABEL:
        current = current.source_task
    if current is None:
        raise AnswerError("verdict", "this item reached the review stage without a labeled stage before it")
    return current


def consensus_label(task: Task | None) -> dict:
    """The label a task's consensus stands for: each field's chosen value."""
    consensus = Consensus.objects.filter(task=task).first() if task is not None else None
    if consensus is None:
        return {}
    return {key: field["value"] for key, field in consensus.fields.items()
            if not key.startswith("_") and field["value"] is not None}


@transaction.atomic
def _expire(assignment_id: int) -> None:
    expired = Assignment.objects.select_for_update().filter(
        pk=assignment_id, state=Assignment.State.OPEN, lease_expires_at__lte=timezone.now()).first()
    if expired is not None:
        _give_back([(expired.pk, expired.task_id, expired.round)])
