"""Worker quality: the qualification set, gold scoring, reliability, the adaptive gold rate and
blocking. Every gold or qualification answer scores the worker against the known answer with
the same agreement rules the consensus uses (labeling/agreement.py)."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from . import audit
from .agreement import agrees, comparable
from .models import Answer, GoldAnswer, PipelineSettings, Stage, Task, WorkerQuality

# A worker's gold record counts as proven after this many gold answers: their gold rate then
# falls as far towards the stage's minimum as their reliability allows.
PROVEN_AFTER_GOLD = 20


def pipeline_settings(project_id: int) -> PipelineSettings:
    settings, _ = PipelineSettings.objects.get_or_create(project_id=project_id)
    return settings


@dataclass(frozen=True)
class GoldScore:
    score: float  # share of the compared fields answered right
    correct: bool  # every compared field right
    fields: dict  # {key: {"correct": bool, "expected": value, "given": value}}

    def as_json(self) -> dict:
        return {"score": round(self.score, 4), "correct": self.correct, "fields": self.fields}


def score_against_gold(schema: dict, value: dict, gold: dict) -> GoldScore:
    """Compare an answer with the known answer on every field the gold answers."""
    fields = {}
    for field in schema["fields"]:
        key = field["key"]
        if comparable(field) and key in gold:
            fields[key] = {"correct": agrees(field, value.get(key), gold[key]), "expected": gold[key],
                           "given": value.get(key)}
    right = sum(result["correct"] for result in fields.values())
    return GoldScore(score=right / len(fields) if fields else 1.0, correct=right == len(fields), fields=fields)


def gold_rate(stage: Stage, quality: WorkerQuality | None, threshold: float) -> float:
    """The chance that a worker's next task is gold: the stage's maximum for new or doubtful
    workers, moving towards its minimum as the worker's gold record grows and stays above the
    project's reliability threshold."""
    high, low = stage.gold_rate_max, min(stage.gold_rate_min, stage.gold_rate_max)
    if high <= 0 or quality is None:
        return max(high, 0.0)
    evidence = min(1.0, quality.gold_answered / PROVEN_AFTER_GOLD)
    standing = min(1.0, max(0.0, (quality.reliability - threshold) / max(1 - threshold, 1e-9)))
    return high - (high - low) * evidence * standing


def locked_quality(stage_id: int, worker_id: int) -> WorkerQuality:
    """The worker's quality row in the stage, created if new, locked for this transaction."""
    WorkerQuality.objects.get_or_create(stage_id=stage_id, worker_id=worker_id)
    return WorkerQuality.objects.select_for_update().get(stage_id=stage_id, worker_id=worker_id)


def record_gold_result(*, task: Task, answer: Answer, score: GoldScore | None) -> WorkerQuality:
    """Fold one scored answer on a gold or qualification task into the worker's record (a skip
    on gold is no evidence either way; on the qualification set it counts as wrong). Decides the
    qualification once the whole set is answered, and blocks a worker whose reliability falls
    below the project's threshold. Runs inside the answer's transaction."""
    stage = task.stage
    quality = locked_quality(stage.pk, answer.worker_id)
    settings = pipeline_settings(stage.project_id)
    qualifying = task.kind == Task.Kind.QUALIFICATION
    if score is not None or qualifying:
        points = score.score if score is not None else 0.0
        quality.gold_answered += 1
        quality.gold_correct += points
        quality.reliability = (quality.gold_correct + 1) / (quality.gold_answered + 2)
    if qualifying:
        quality.qualification_answered += 1
        quality.qualification_correct += int(score is not None and score.correct)
        set_size = stage.tasks.filter(kind=Task.Kind.QUALIFICATION).count()
        quality.qualification = WorkerQuality.Qualification.IN_PROGRESS
        if quality.qualification_answered >= set_size:
            _decide_qualification(quality, settings, set_size)
    elif (not quality.blocked_reason and quality.gold_answered >= settings.min_gold_for_blocking
          and quality.reliability < settings.reliability_threshold):
        _block(quality, settings.project_id,
               f"reliability {quality.reliability:.2f} on {quality.gold_answered} gold answers is below "
               f"the project's threshold of {settings.reliability_threshold:.2f}")
    quality.save()
    return quality


def _decide_qualification(quality: WorkerQuality, settings: PipelineSettings, set_size: int) -> None:
    share = quality.qualification_correct / set_size
    if share >= settings.qualification_pass_mark:
        quality.qualification = WorkerQuality.Qualification.PASSED
    else:
        quality.qualification = WorkerQuality.Qualification.FAILED
        _block(quality, settings.project_id,
               f"qualification: {quality.qualification_correct} of {set_size} right ({share:.0%}), "
               f"pass mark {settings.qualification_pass_mark:.0%}")
    audit.record("qualification.decided", project_id=settings.project_id, actor_id=quality.worker_id,
                 stage_id=quality.stage_id, result=quality.qualification, right=quality.qualification_correct,
                 of=set_size)


def _block(quality: WorkerQuality, project_id: int, reason: str) -> None:
    quality.blocked_reason, quality.blocked_at = reason, timezone.now()
    audit.record("worker.blocked", project_id=project_id, actor_id=quality.worker_id, stage_id=quality.stage_id,
                 reason=reason)


@transaction.atomic
def unblock(*, stage: Stage, worker: AbstractBaseUser, by: AbstractBaseUser, pass_qualification: bool
            ) -> WorkerQuality:
    """An admin lets a blocked worker work again (and may pass a failed qualification)."""
    quality = locked_quality(stage.pk, worker.pk)
    previous = quality.blocked_reason
    quality.blocked_reason, quality.blocked_at = "", None
    if pass_qualification:
        quality.qualification = WorkerQuality.Qualification.PASSED
    quality.save()
    audit.record("worker.unblocked", project_id=stage.project_id, actor_id=by.pk, stage_id=stage.pk,
                 worker=worker.get_username(), previous_reason=previous, passed_qualification=pass_qualification)
    return quality


def make_gold(*, task: Task, value: dict, explanation: str, source: str, by_id: int | None) -> GoldAnswer:
    """Give a task a known answer: new workers of its stage get it as gold, and the answers it
    already has are scored against it (their workers' records learn from the correction)."""
    schema = task.stage.schema
    gold, _ = GoldAnswer.objects.update_or_create(task=task, defaults={
        "schema": schema, "value": value, "explanation": explanation, "source": source, "created_by_id": by_id})
    if task.kind == Task.Kind.NORMAL:
        task.kind = Task.Kind.GOLD
        task.save(update_fields=["kind"])
        for answer in task.answers.filter(skip_reason="", gold_score__isnull=True).order_by("pk"):
            score = score_against_gold(schema.definition, answer.value, value)
            answer.gold_score = score.as_json()
            answer.save(update_fields=["gold_score"])
            record_gold_result(task=task, answer=answer, score=score)
    audit.record("gold.saved", project_id=task.stage.project_id, actor_id=by_id, stage_id=task.stage_id,
                 item_id=task.item_id, task_id=task.pk, schema_id=schema.pk, source=source)
    return gold
