"""Serving tasks to workers: leases, answers, and the gold and qualification tasks mixed in.

Under concurrency the database does the arbitration: a task row is taken FOR UPDATE SKIP
LOCKED (concurrent workers never wait for each other nor take the same slot), open slots are
counted on the task row, and (task, worker, round) is unique, so nobody answers an item twice.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from cardiocrowd.operations.metrics import ANSWERS_STORED, TASKS_SERVED

from . import audit
from .models import Answer, Assignment, Consensus, Item, LabelSchema, Stage, Task, WorkerQuality
from .prelabels import prelabel
from .quality import gold_rate, pipeline_settings, record_gold_result, score_against_gold
from .schema import AnswerError, ImageGeometry, validate_answer
from .stable import schema_version, stage_facts


class NoTaskAvailable(Exception):
    """Nothing in this stage is left for this worker now."""


class WorkerBlocked(Exception):
    """The worker may not take tasks in this stage; the message says why."""


class NotYourAssignment(Exception):
    """No such assignment, or another worker's: the same answer for both."""


class AssignmentClosed(Exception):
    """The assignment's lease ran out or was given back; its answer can no longer be taken."""


class NothingToAccept(Exception):
    """A reviewer accepted a consensus that is a tie or empty: there is no label to keep."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# Where the worker stands in the stage, in one round trip: the oldest lease they hold besides
# `after` (if any) and their quality record (if any).
STANDING_SQL = """
SELECT (SELECT a.id FROM labeling_assignment a JOIN labeling_task t ON t.id = a.task_id
        WHERE a.worker_id = %(worker)s AND a.state = 'open' AND t.stage_id = %(stage)s AND a.id <> %(after)s
          AND (a.lease_expires_at IS NULL OR a.lease_expires_at > now())
        ORDER BY a.id LIMIT 1),
       q.id, q.blocked_reason, q.qualification, q.reliability, q.gold_answered
FROM (SELECT 1) AS one LEFT JOIN labeling_workerquality q ON q.stage_id = %(stage)s AND q.worker_id = %(worker)s
"""

# The lease and its item, as the claims below return them.
LEASED = """
SELECT leased.id, leased.task_id, leased.worker_id, leased.round, leased.state, leased.leased_at,
       leased.lease_expires_at, i.id, i.project_id, i.study_id, i.series_id, i.instance_id
FROM leased JOIN labeling_item i ON i.id = leased.item_id
"""

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
), leased AS (
    INSERT INTO labeling_assignment (task_id, item_id, worker_id, round, state, leased_at, lease_expires_at)
    SELECT id, item_id, %(worker)s, round, 'open', now(), now() + make_interval(secs => %(lease)s) FROM taken
    RETURNING *
)""" + LEASED

# Gold and qualification tasks have no slots: every worker of the stage may answer each once.
CLAIM_KNOWN_ANSWER_SQL = """
WITH leased AS (
    INSERT INTO labeling_assignment (task_id, item_id, worker_id, round, state, leased_at, lease_expires_at)
    SELECT t.id, t.item_id, %(worker)s, t.round, 'open', now(), now() + make_interval(secs => %(lease)s)
    FROM labeling_task t
    WHERE t.stage_id = %(stage)s AND t.kind = %(kind)s
      AND NOT EXISTS (SELECT 1 FROM labeling_assignment a WHERE a.task_id = t.id AND a.worker_id = %(worker)s)
    ORDER BY t.id
    LIMIT 1
    ON CONFLICT DO NOTHING
    RETURNING *
)""" + LEASED


def claim_next_task(*, stage: Stage, worker: AbstractBaseUser, after: int | None = None) -> Assignment:
    """Lease the next task of `stage` to `worker`: the qualification set first where the stage
    asks for one, then normal tasks with gold mixed in at the worker's gold rate.
    Raises NoTaskAvailable, WorkerBlocked.

    A worker who already holds an open lease in the stage gets it again (a double click on
    "next" must not take two slots). `after` is the lease the worker is working on: the browser
    asks for the task after it while the worker answers, to load its images ahead, so a worker
    holds at most two. Each claim is one statement, atomic on its own."""
    held, quality = _standing(stage, worker, after or 0)
    if held is not None:
        return Assignment.objects.select_related("item").get(pk=held)
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


def _standing(stage: Stage, worker: AbstractBaseUser, after: int) -> tuple[int | None, WorkerQuality | None]:
    with connection.cursor() as cursor:
        cursor.execute(STANDING_SQL, {"stage": stage.pk, "worker": worker.pk, "after": after})
        held, quality_id, blocked_reason, qualification, reliability, gold_answered = cursor.fetchone()
    if quality_id is None:
        return held, None
    return held, WorkerQuality(id=quality_id, stage_id=stage.pk, worker_id=worker.pk, blocked_reason=blocked_reason,
                               qualification=qualification, reliability=reliability, gold_answered=gold_answered)


def _claim_qualification(stage: Stage, worker: AbstractBaseUser) -> Assignment:
    assignment = _claim(CLAIM_KNOWN_ANSWER_SQL, stage, worker, kind=Task.Kind.QUALIFICATION)
    if assignment is not None:
        return assignment
    if not stage.tasks.filter(kind=Task.Kind.QUALIFICATION).exists():
        raise WorkerBlocked("This stage asks for a qualification but has no qualification items yet; "
                            "the project admin must add some.")
    raise NoTaskAvailable(stage.pk)


ASSIGNMENT_COLUMNS = ["id", "task_id", "worker_id", "round", "state", "leased_at", "lease_expires_at"]
ITEM_COLUMNS = ["id", "project_id", "study_id", "series_id", "instance_id"]


def _claim(sql: str, stage: Stage, worker: AbstractBaseUser, *, kind: str = Task.Kind.NORMAL,
           **params) -> Assignment | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"stage": stage.pk, "worker": worker.pk, "lease": stage.lease_seconds, "kind": kind,
                             **params})
        row = cursor.fetchone()
    if row is None:
        return None
    TASKS_SERVED.labels(kind=kind).inc()  # every new lease is taken here, in one statement
    split = len(ASSIGNMENT_COLUMNS)
    assignment = Assignment.from_db("default", ASSIGNMENT_COLUMNS, row[:split])
    assignment.item = Item.from_db("default", ITEM_COLUMNS, row[split:])
    return assignment


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


def submit_answer(*, assignment: Assignment, **answer) -> Submission:
    """submit_for_worker for the worker holding `assignment`."""
    return submit_for_worker(assignment_id=assignment.pk, worker_id=assignment.worker_id, **answer)


def submit_for_worker(*, assignment_id: int, worker_id: int, value: dict, skip_reason: str = "", verdict: str = "",
                      note: str = "", from_prelabel: bool = False,
                      images_of: Callable[[Item, dict], Mapping[str, ImageGeometry]] | None = None) -> Submission:
    """Record the worker's answer, reasoned skip or (in a review stage) verdict, and close the
    lease. A retried submit returns the first answer and stores nothing. `images_of(item, value)`
    gives the images spatial answers are checked against; `from_prelabel` says the worker started
    from the model's pre-label (recorded with the answer, in stages that show pre-labels).
    Raises NotYourAssignment, AssignmentClosed, schema.AnswerError (nothing is stored then)."""
    try:
        submission = _record_answer(assignment_id=assignment_id, worker_id=worker_id, value=value,
                                    skip_reason=skip_reason, verdict=verdict, note=note, from_prelabel=from_prelabel,
                                    images_of=images_of)
    except _LeaseRanOut:
        _expire(assignment_id)  # in a transaction of its own: the slot goes back to the pool now
        raise AssignmentClosed(assignment_id) from None
    if submission.created:
        ANSWERS_STORED.labels(kind=submission.answer.task.kind).inc()
    return submission


class _LeaseRanOut(Exception):
    pass


@transaction.atomic
def _record_answer(*, assignment_id: int, worker_id: int, value: dict, skip_reason: str, verdict: str, note: str,
                   from_prelabel: bool, images_of: Callable[[Item, dict], Mapping[str, ImageGeometry]] | None
                   ) -> Submission:
    assignment = (Assignment.objects.select_for_update(of=("self",)).select_related("task", "item")
                  .filter(pk=assignment_id, worker_id=worker_id).first())
    if assignment is None:
        raise NotYourAssignment(assignment_id)
    if assignment.state == Assignment.State.SUBMITTED:
        return Submission(assignment.answer, False, _feedback(assignment.answer))
    if assignment.state != Assignment.State.OPEN:
        raise AssignmentClosed(assignment.pk)
    if assignment.lease_expires_at is not None and assignment.lease_expires_at <= timezone.now():
        raise _LeaseRanOut
    task, stage = assignment.task, stage_facts(assignment.task.stage_id)
    images = images_of(assignment.item, value) if images_of is not None else None
    shown = None
    if stage.kind == Stage.Kind.LABEL:
        schema = schema_version(stage.schema_id)
        normalized = {} if skip_reason else validate_answer(schema.definition, value, images)
        verdict = ""
        if from_prelabel and not skip_reason:
            shown = prelabel(item_id=task.item_id, stage_id=task.stage_id, schema=schema.definition)
    else:
        schema, normalized = _review_verdict(task, verdict, value, images)
    answer = Answer.objects.create(assignment=assignment, task=task, worker_id=assignment.worker_id, schema=schema,
                                   round=assignment.round, value=normalized, skip_reason=skip_reason[:200],
                                   verdict=verdict, note=note, prelabel=shown)
    Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.SUBMITTED)
    if task.kind != Task.Kind.NORMAL:
        return _score_known_answer(task, answer, schema)
    if verdict:
        audit.record("review.submitted", project_id=stage.project_id, actor_id=answer.worker_id, stage_id=task.stage_id,
                     item_id=task.item_id, task_id=task.pk, schema_id=schema.pk, verdict=verdict)
    _count_answer(task.pk, assignment.round)
    return Submission(answer, True)


# Count an answer of the task's current round (an answer of an earlier round, sent back since,
# stays on record only); true when it is the one that completes the task.
COUNT_ANSWER_SQL = """
UPDATE labeling_task
SET answer_count = answer_count + 1,
    state = CASE WHEN answer_count + 1 >= target_answers THEN 'complete' ELSE state END
WHERE id = %s AND round = %s
RETURNING answer_count = target_answers
"""


def _count_answer(task_id: int, round_: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(COUNT_ANSWER_SQL, [task_id, round_])
        row = cursor.fetchone()
    if row is not None and row[0]:
        from .tasks import aggregate_task_task

        transaction.on_commit(lambda: aggregate_task_task.delay(task_id))


def _score_known_answer(task: Task, answer: Answer, schema: LabelSchema) -> Submission:
    score = None if answer.skip_reason else score_against_gold(schema.definition, answer.value, task.gold.value)
    if score is not None:
        answer.gold_score = score.as_json()
        answer.save(update_fields=["gold_score"])
    quality = record_gold_result(task=task, answer=answer, score=score)
    return Submission(answer, True, _feedback(answer, quality))


def _feedback(answer: Answer, quality: WorkerQuality | None = None) -> dict | None:
    """What a worker learns from a qualification or gold answer, once it is given: right or wrong
    per field, the expected answer and the expert's explanation. Until then a gold task is served
    exactly like a normal one (the same payload), so it cannot be told apart before answering."""
    task = answer.task
    if task.kind == Task.Kind.NORMAL or (task.kind == Task.Kind.GOLD and answer.skip_reason):
        return None  # a skipped gold item says nothing: skipping must not reveal which items are gold
    feedback = {**(answer.gold_score or {"score": 0.0, "correct": False, "fields": {}}), "kind": task.kind,
                "explanation": task.gold.explanation}
    if task.kind == Task.Kind.QUALIFICATION:
        quality = quality or WorkerQuality.objects.get(stage_id=task.stage_id, worker_id=answer.worker_id)
        feedback["qualification"] = {"status": quality.qualification, "answered": quality.qualification_answered,
                                     "right": quality.qualification_correct,
                                     "of": task.stage.tasks.filter(kind=Task.Kind.QUALIFICATION).count()}
    return feedback


def _review_verdict(task: Task, verdict: str, value: dict, images: Mapping[str, ImageGeometry] | None
                    ) -> tuple[LabelSchema, dict]:
    """A reviewer's verdict on what the reviewed task concluded, as the label it stands for:
    the reviewed consensus (accept), the reviewer's correction (correct) or nothing (reject)."""
    reviewed = reviewed_label_task(task)
    schema = reviewed.stage.schema
    if verdict == Answer.Verdict.ACCEPT:
        consensus = Consensus.objects.filter(task=task.source_task).first()
        reason = unacceptable_reason(consensus.fields if consensus else {})
        if reason in ("tie", "empty"):  # an expert verdict may settle a contradiction, never a coin toss
            raise NothingToAccept(reason, ACCEPT_REFUSED[reason])
        return schema, label_of(consensus.fields)
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
    return label_of(consensus.fields) if consensus is not None else {}


# A field the crowd did not settle: a tie (majority_vote's None), or nothing at all.
EMPTY_VALUES = (None, "", "—")
ACCEPT_REFUSED = {
    "tie": "The consensus is a tie: there is no label to accept. Correct it with the label you see, or reject.",
    "empty": "The consensus is empty: there is no label to accept. Correct it with the label you see, or reject.",
}


def unacceptable_reason(consensus_fields: dict) -> str:
    """Why a consensus may not become an accepted result without an expert's label ('' when it may):
    "empty" (no field settled), "tie" (some field tied) or "contradicts_vote" (the learned label
    overrides answers that were unanimous)."""
    label = [entry for key, entry in consensus_fields.items() if not key.startswith("_")]
    if not label or all(entry.get("value") in EMPTY_VALUES for entry in label):
        return "empty"
    if any(entry.get("value") in EMPTY_VALUES for entry in label):
        return "tie"
    if any(entry.get("unanimous") is not None for entry in label):
        return "contradicts_vote"
    return ""


def label_of(consensus_fields: dict) -> dict:
    """{field: chosen value} of a consensus' fields (the reviewers' `_verdict` is not a field)."""
    return {key: field["value"] for key, field in consensus_fields.items()
            if not key.startswith("_") and field["value"] is not None}


@transaction.atomic
def _expire(assignment_id: int) -> None:
    expired = Assignment.objects.select_for_update().filter(
        pk=assignment_id, state=Assignment.State.OPEN, lease_expires_at__lte=timezone.now()).first()
    if expired is not None:
        _give_back([(expired.pk, expired.task_id, expired.round)])
