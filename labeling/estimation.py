"""Whole-stage re-estimation: worker reliability and consensus learned from every answer of a
label stage, the overlap between workers and the gold (Dawid-Skene by default, any method of
labeling/consensus/categorical.py), for each categorical field.

A run reads everything, computes, then writes all its results in one transaction: a worker killed
half-way leaves the previous estimates and consensus untouched, and the retried task (acks_late)
does the whole job again. Completed items keep their routing (decisions are history); an item the
pipeline accepted from this stage has its result revised when a categorical value changes, and
the change is audited.
"""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from . import audit
from .consensus.categorical import METHODS
from .consensus.categorical_base import encode
from .consensus.online import item_posterior, typical_confusion
from .consensus.voting import CATEGORICAL_KINDS
from .models import Answer, Consensus, ConsensusRun, GoldAnswer, Item, Stage, Task, WorkerEstimate

METHOD_NAMES = {"ds": "dawid_skene", "onecoin": "one_coin", "glad": "glad", "mace": "mace", "mv": "majority_vote"}


def stages_due() -> list[tuple[int, int]]:
    """(stage id, answers) of the label stages with answers newer than their last finished run."""
    last_run = (ConsensusRun.objects.filter(stage=OuterRef("pk")).exclude(status=ConsensusRun.Status.RUNNING)
                .order_by("-started_at").values("started_at")[:1])
    stages = (Stage.objects.filter(kind=Stage.Kind.LABEL)
              .annotate(newest=Max("tasks__answers__created_at"), answers=Count("tasks__answers"),
                        last_run=Subquery(last_run))
              .filter(newest__isnull=False).filter(Q(last_run__isnull=True) | Q(newest__gt=F("last_run"))))
    return [(stage.pk, stage.answers) for stage in stages.select_related("schema") if categorical_fields(stage)]


def categorical_fields(stage: Stage) -> list[str]:
    if stage.kind != Stage.Kind.LABEL or stage.schema is None:
        return []
    return [field["key"] for field in stage.schema.definition["fields"] if field["kind"] in CATEGORICAL_KINDS]


def reestimate_stage(*, stage_id: int, method: str = "ds") -> ConsensusRun | None:
    """Re-learn the stage's worker estimates and revise its consensus. Returns the run (None for a
    stage with no categorical field). Raises whatever the data raises, after marking the run failed."""
    stage = Stage.objects.select_related("schema").get(pk=stage_id)
    fields = categorical_fields(stage)
    if not fields:
        return None
    # A run a killed worker left behind never finishes: say so before starting again.
    ConsensusRun.objects.filter(stage=stage, status=ConsensusRun.Status.RUNNING).update(
        status=ConsensusRun.Status.FAILED, error="interrupted (the worker running it stopped)",
        finished_at=timezone.now())
    run = ConsensusRun.objects.create(stage=stage, method=METHOD_NAMES[method])
    try:
        return _estimate(stage, fields, method, run)
    except Exception as error:
        ConsensusRun.objects.filter(pk=run.pk).update(status=ConsensusRun.Status.FAILED, error=repr(error)[:2000],
                                                      finished_at=timezone.now())
        raise


def _estimate(stage: Stage, fields: list[str], method: str, run: ConsensusRun) -> ConsensusRun:
    # The current round of every task (a send-back's earlier round is history) and every gold answer.
    rows = list(Answer.objects.filter(task__stage=stage, skip_reason="")
                .values_list("task_id", "worker_id", "value", "round", "task__round", "task__kind"))
    rows = [row for row in rows if row[5] != Task.Kind.NORMAL or row[3] == row[4]]
    gold = dict(GoldAnswer.objects.filter(task__stage=stage).values_list("task_id", "value"))
    estimates, posteriors, priors = [], {}, {}
    for field in fields:
        given = [(task, worker, value[field]) for task, worker, value, *_ in rows if value.get(field) is not None]
        known = {task: value[field] for task, value in gold.items() if value.get(field) is not None}
        if not given:
            continue
        answers = encode(*zip(*given, strict=True), gold=known)
        result = METHODS[method](answers)
        priors[field] = dict(zip(map(str, answers.classes), result.class_prior.round(6).tolist(), strict=True))
        counts = np.bincount(answers.workers, minlength=answers.n_workers)
        for index, worker in enumerate(answers.worker_ids):
            confusion = result.confusion[index] if result.confusion is not None else _symmetric(
                result.worker_reliability[index], answers.n_classes)
            estimates.append(WorkerEstimate(
                stage=stage, worker_id=worker, field=field, method=run.method, run=run,
                reliability=float(result.worker_reliability[index]), answers=int(counts[index]),
                confusion={"labels": answers.classes, "matrix": np.round(confusion, 6).tolist()}))
        hard, confidence = result.labels, result.confidence  # computed once: both are whole-array properties
        for index, task in enumerate(answers.item_ids):
            posteriors[(task, field)] = (answers.classes[int(hard[index])], float(confidence[index]))
    with transaction.atomic():
        revised = _revise_consensus(stage, fields, posteriors, run)
        WorkerEstimate.objects.filter(stage=stage).delete()
        WorkerEstimate.objects.bulk_create(estimates)
        ConsensusRun.objects.filter(pk=run.pk).update(
            status=ConsensusRun.Status.SUCCEEDED, finished_at=timezone.now(), answers=len(rows),
            workers=len({worker for _, worker, *_ in rows}), tasks=len({task for task, *_ in rows}), revised=revised,
            class_priors=priors)
    run.refresh_from_db()
    return run


def _symmetric(reliability: float, n_classes: int) -> np.ndarray:
    """The confusion matrix of a one-parameter worker: right with `reliability`, else uniform."""
    if n_classes == 1:
        return np.ones((1, 1))
    wrong = (1 - reliability) / (n_classes - 1)
    return np.full((n_classes, n_classes), wrong) + np.eye(n_classes) * (reliability - wrong)


def _revise_consensus(stage: Stage, fields: list[str], posteriors: dict, run: ConsensusRun) -> int:
    consensus_rows = list(Consensus.objects.select_for_update().filter(task__stage=stage,
                                                                      task__kind=Task.Kind.NORMAL))
    changed, revised_items = [], []
    for consensus in consensus_rows:
        updated = dict(consensus.fields)
        for field in fields:
            if (consensus.task_id, field) in posteriors:
                value, probability = posteriors[(consensus.task_id, field)]
                previous = updated.get(field, {})
                updated[field] = {**previous, "value": value, "share": round(probability, 4)}
        if updated != consensus.fields:
            if any(updated[f]["value"] != consensus.fields.get(f, {}).get("value") for f in fields if f in updated):
                revised_items.append((consensus.task_id, {f: updated[f]["value"] for f in fields if f in updated}))
            consensus.fields, consensus.method = updated, run.method
            consensus.confidence = round(min(entry["share"] for entry in updated.values()), 4) if updated else 0.0
            changed.append(consensus)
    _write_consensus(changed)
    _revise_results(stage, revised_items, run)
    return len(revised_items)


# One statement per 10,000 rows: bulk_update's CASE per row costs seconds a thousand rows.
UPDATE_CONSENSUS_SQL = """
UPDATE labeling_consensus c SET fields = v.fields::jsonb, method = v.method, confidence = v.confidence,
    updated_at = now()
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[]) AS v(id, fields, method, confidence)
WHERE c.id = v.id
"""


def _write_consensus(rows: list[Consensus]) -> None:
    for start in range(0, len(rows), 10_000):
        batch = rows[start:start + 10_000]
        with connection.cursor() as cursor:
            cursor.execute(UPDATE_CONSENSUS_SQL, [[row.pk for row in batch], [json.dumps(row.fields) for row in batch],
                                                  [row.method for row in batch], [row.confidence for row in batch]])


def _revise_results(stage: Stage, revised: list[tuple[int, dict]], run: ConsensusRun) -> None:
    """Items the pipeline accepted straight from this stage take the revised categorical values."""
    by_task = dict(revised)
    items = list(Item.objects.filter(result_task_id__in=by_task, status=Item.Status.ACCEPTED))
    for item in items:
        new = {**(item.result or {}), **by_task[item.result_task_id]}
        if new != item.result:
            audit.record("result.revised", project_id=stage.project_id, stage_id=stage.pk, item_id=item.pk,
                         task_id=item.result_task_id, schema_id=stage.schema_id, run=run.pk,
                         previous=item.result, result=new)
            item.result = new
    Item.objects.bulk_update(items, ["result"], batch_size=1000)


def known_worker_posteriors(stage: Stage, answers: list[Answer]) -> tuple[str, dict[str, tuple[object, float]]]:
    """The last run's method and, per categorical field, the consensus value and its probability
    for one completed task given the worker estimates of that run (nothing before the first run)."""
    run = stage.consensus_runs.filter(status=ConsensusRun.Status.SUCCEEDED).order_by("-pk").first()
    if run is None:
        return "", {}
    estimates = defaultdict(dict)
    for estimate in WorkerEstimate.objects.filter(stage=stage):
        estimates[estimate.field][estimate.worker_id] = estimate.confusion
    result = {}
    for field, prior in run.class_priors.items():
        labels = list(prior)
        given = [(answer.worker_id, str(answer.value[field])) for answer in answers
                 if not answer.skip_reason and answer.value.get(field) is not None]
        if not given or any(label not in labels for _, label in given):
            continue  # a label the run never saw: leave this field to the vote
        matrices = {worker: np.array(confusion["matrix"]) for worker, confusion in estimates[field].items()
                    if [str(label) for label in confusion["labels"]] == labels}
        fallback = typical_confusion(list(matrices.values()), len(labels))
        posterior = item_posterior([labels.index(label) for _, label in given],
                                   [matrices.get(worker, fallback) for worker, _ in given],
                                   np.array(list(prior.values())))
        best = int(np.argmax(posterior))
        result[field] = (labels[best], float(posterior[best]))
    return run.method, result
