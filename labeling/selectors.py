"""Reads of the labeling engine for its endpoints."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import CharField, Count, F, IntegerField, JSONField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Floor, Greatest, Least
from django.utils import timezone

from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.geometry import geometry_from_metadata
from cardiocrowd.imaging.models import Instance

from .assignment import ACCEPT_REFUSED, reviewed_label_task, unacceptable_reason
from .models import (
    Answer,
    Assignment,
    Consensus,
    ConsensusRun,
    Item,
    LabelSchema,
    ResultProposal,
    Stage,
    Task,
    WorkerQuality,
)
from .prelabels import prelabel
from .schema import ImageGeometry
from .stable import schema_version


def latest_schemas(project: Project) -> QuerySet[LabelSchema]:
    """The newest version of each of the project's schemas, by name."""
    newest = LabelSchema.objects.filter(project=project, name=OuterRef("name")).order_by("-version").values("pk")[:1]
    return (LabelSchema.objects.filter(project=project, pk=Subquery(newest))
            .select_related("created_by").order_by("name"))


def item_instances(item: Item) -> QuerySet[Instance]:
    """The available instances an item covers, in viewing order."""
    instances = Instance.objects.available().filter(project_id=item.project_id)
    if item.instance_id:
        instances = instances.filter(pk=item.instance_id)
    elif item.series_id:
        instances = instances.filter(series_id=item.series_id)
    else:
        instances = instances.filter(series__study_id=item.study_id)
    return instances.select_related("series__study").order_by("series_id", "instance_number", "pk")


# The item's available instances in viewing order, as the labeling screen lists them (next-task's
# payload: one plain query). {scope} is the item's one instance, its series or its study.
ITEM_VIEWING_LIST_SQL = """
SELECT st.study_uid, se.series_uid, i.sop_instance_uid, i.number_of_frames, i.frame_time_ms
FROM imaging_instance i
JOIN imaging_series se ON se.id = i.series_id
JOIN imaging_study st ON st.id = se.study_id
WHERE i.project_id = %s AND i.status = 'available' AND {scope} = %s
ORDER BY i.series_id, i.instance_number, i.id
"""


def item_viewing_list(item: Item) -> list[tuple]:
    """(study UID, series UID, SOP instance UID, frames, frame time) of item_instances(item)."""
    if item.instance_id:
        scope, value = "i.id", item.instance_id
    elif item.series_id:
        scope, value = "i.series_id", item.series_id
    else:
        scope, value = "se.study_id", item.study_id
    with connection.cursor() as cursor:
        cursor.execute(ITEM_VIEWING_LIST_SQL.format(scope=scope), [item.project_id, value])
        return cursor.fetchall()


def item_images(item: Item, answer: dict) -> dict[str, ImageGeometry]:
    """The images a spatial answer may be drawn on, by SOP Instance UID: those the answer names,
    or, when it names none, the item's images if it has exactly one (else two, so the answer is
    told to name one). Only what is needed is read: an item may cover hundreds of instances."""
    named = {value["instance"] for value in _values(answer) if isinstance(value.get("instance"), str)}
    instances = item_instances(item)
    rows = (instances.filter(sop_instance_uid__in=named) if named else instances[:2])
    return {uid: geometry_from_metadata(metadata) for uid, metadata in rows.values_list("sop_instance_uid", "metadata")}


class ItemImages(Mapping):
    """item_images, read on first use: most answers have no spatial field and need no image."""

    def __init__(self, item: Item, answer: dict) -> None:
        self._item, self._answer, self._images = item, answer, None

    def _loaded(self) -> dict[str, ImageGeometry]:
        if self._images is None:
            self._images = item_images(self._item, self._answer)
        return self._images

    def __getitem__(self, uid: str) -> ImageGeometry:
        return self._loaded()[uid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def answers_images(item: Item, answers: list[dict]) -> Mapping[str, ImageGeometry]:
    """The images of the item that any of the answers names, by SOP Instance UID, read on first use
    (consensus needs their grids only when a field fuses outlines)."""
    named = {f"{index}.{key}": value for index, answer in enumerate(answers) for key, value in answer.items()}
    return ItemImages(item, named)


def _values(answer: dict) -> list[dict]:
    return [value for value in answer.values() if isinstance(value, dict)] if isinstance(answer, dict) else []


def task_payload(assignment: Assignment, stage: Stage, dicomweb_base: str) -> dict:
    """What the labeling screen needs for one lease: the schema and where the images are.
    A label stage's worker labels blind: never other workers' answers, consensus or gold (a gold
    task's payload is the same as any other's). A review stage's expert sees what it reviews."""
    instances = [{
        "study_uid": study_uid, "series_uid": series_uid, "sop_instance_uid": sop_uid, "frames": frames,
        "frame_time_ms": frame_time_ms,
        "url": f"{dicomweb_base}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}",
    } for study_uid, series_uid, sop_uid, frames, frame_time_ms in item_viewing_list(assignment.item)]
    payload = {
        "assignment": assignment.pk,
        "stage": {"id": stage.pk, "name": stage.name, "kind": stage.kind},
        "lease_expires_at": assignment.lease_expires_at,
        "dicomweb": dicomweb_base,
        "instances": instances,
    }
    if stage.kind == Stage.Kind.LABEL:
        schema = schema_version(stage.schema_id)
        if stage.show_prelabels:  # the model's answer to start from (a gold item's payload looks the same)
            payload["prelabel"] = prelabel(item_id=assignment.item_id, stage_id=stage.pk, schema=schema.definition)
    else:
        schema = reviewed_label_task(assignment.task).stage.schema
        payload["review"] = review_context(assignment.task)
        payload["verdicts"] = [Answer.Verdict.ACCEPT, Answer.Verdict.CORRECT, Answer.Verdict.REJECT]
        payload["accept"] = accept_status(assignment.task)
        proposal = review_proposal(assignment.task)
        if proposal is not None:
            payload["proposal"] = proposal
    payload["schema"] = {"name": schema.name, "version": schema.version, "definition": schema.definition}
    return payload


# What the review screen says beside a consensus it may accept but should look at twice.
ACCEPT_NOTES = {"contradicts_vote": "The learned label differs from what every worker answered."}


def accept_status(task: Task) -> dict:
    """Whether a reviewer may keep what the reviewed stage concluded: the server's rule (no tie, no
    empty consensus is ever accepted), which the review screen shows rather than decides."""
    consensus = Consensus.objects.filter(task=task.source_task).first()
    reason = unacceptable_reason(consensus.fields if consensus else {})
    allowed = reason not in ACCEPT_REFUSED
    return {"allowed": allowed, "reason": reason,
            "message": ACCEPT_NOTES.get(reason, "") if allowed else ACCEPT_REFUSED[reason]}


def review_proposal(task: Task) -> dict | None:
    """For an item a whole-stage run sent back to review: the accepted result and consensus beside
    what the run concluded (the reviewed task's consensus now)."""
    proposal = (ResultProposal.objects.filter(review_task=task, state=ResultProposal.State.IN_REVIEW)
                .order_by("-pk").first())
    if proposal is None:
        return None
    current = Consensus.objects.filter(task_id=proposal.task_id).first()
    return {"id": proposal.pk, "run": proposal.run_id, "created_at": proposal.created_at,
            "previous": proposal.previous, "proposed": proposal.proposed,
            "previous_consensus": proposal.previous_consensus, "proposed_consensus": current.fields if current else {}}


def review_context(task: Task) -> list[dict]:
    """What came before a review task, nearest first: for each earlier stage the item went
    through in this pass, its answers (workers as W1, W2… with their reliability there; reviewers
    with their verdicts) and its consensus."""
    levels, current = [], task.source_task
    while current is not None:
        levels.append(stage_outcome(current))
        current = current.source_task if current.stage.kind != Stage.Kind.LABEL else None
    return levels


def stage_outcome(task: Task) -> dict:
    answers = list(task.answers.filter(round=task.round).select_related("worker").order_by("pk"))
    reliability = dict(WorkerQuality.objects.filter(stage_id=task.stage_id, worker__in=[a.worker_id for a in answers])
                       .values_list("worker_id", "reliability"))
    consensus = Consensus.objects.filter(task=task).first()
    return {
        "stage": {"id": task.stage_id, "name": task.stage.name, "kind": task.stage.kind},
        "round": task.round,
        "answers": [{"worker": f"W{number}", "worker_reliability": reliability.get(answer.worker_id),
                     "value": answer.value, "skip_reason": answer.skip_reason, "verdict": answer.verdict,
                     "note": answer.note, "schema_version": answer.schema.version, "created_at": answer.created_at}
                    for number, answer in enumerate(answers, start=1)],
        "consensus": None if consensus is None else {"method": consensus.method, "fields": consensus.fields,
                                                     "confidence": consensus.confidence},
    }


def review_queue(stage: Stage) -> QuerySet[Task]:
    """Items waiting in a review stage, highest priority first, with what sent them there."""
    return (stage.tasks.filter(kind=Task.Kind.NORMAL, state=Task.State.OPEN)
            .select_related("item__series", "source_task__stage", "source_task__consensus")
            .order_by("-priority", "pk"))


def item_history(item: Item) -> dict:
    """Everything that happened to an item: each stage's tasks, answers, consensus and routing,
    gold, and its result."""
    tasks = (item.tasks.select_related("stage", "consensus", "gold").prefetch_related(
        "answers__worker", "answers__schema", "routing_decisions__target").order_by("stage__position"))
    return {
        "id": item.pk, "status": item.status, "result": item.result, "decided_at": item.decided_at,
        "series_uid": item.series.series_uid if item.series_id else None,
        "stages": [{
            "stage": {"id": task.stage_id, "name": task.stage.name, "kind": task.stage.kind},
            "task": task.pk, "kind": task.kind, "state": task.state, "round": task.round,
            "answers": [{"worker": answer.worker.get_username(), "round": answer.round, "value": answer.value,
                         "skip_reason": answer.skip_reason, "verdict": answer.verdict, "note": answer.note,
                         "gold_score": answer.gold_score, "schema": answer.schema.name,
                         "schema_version": answer.schema.version, "created_at": answer.created_at}
                        for answer in sorted(task.answers.all(), key=lambda a: a.pk)],
            "consensus": _consensus_json(task),
            "routing": [{"round": decision.round, "action": decision.action, "rule": decision.rule,
                         "reason": decision.reason, "target": decision.target.position if decision.target else None,
                         "decided_at": decision.decided_at}
                        for decision in sorted(task.routing_decisions.all(), key=lambda d: d.round)],
            "gold": _gold_json(task),
        } for task in tasks],
    }


def _consensus_json(task: Task) -> dict | None:
    consensus = getattr(task, "consensus", None)
    return None if consensus is None else {"method": consensus.method, "fields": consensus.fields,
                                           "confidence": consensus.confidence, "answers": consensus.answer_count}


def _gold_json(task: Task) -> dict | None:
    gold = getattr(task, "gold", None)
    return None if gold is None else {"value": gold.value, "explanation": gold.explanation, "source": gold.source}


def worker_history(stage: Stage, worker) -> dict:
    """A worker's own record in a stage: how many answers, today's, and the latest ten with what
    the worker may know of them (a gold or qualification item's score is shown once answered)."""
    answers = Answer.objects.filter(task__stage=stage, worker=worker)
    today = timezone.localdate()
    recent = answers.select_related("task").order_by("-pk")[:10]
    return {
        "answers": answers.count(),
        "answers_today": answers.filter(created_at__date=today).count(),
        "recent": [{"at": answer.created_at, "item": answer.task.item_id, "skipped": answer.skip_reason,
                    "known_answer": _revealed_kind(answer),
                    "correct": (answer.gold_score or {}).get("correct") if _revealed_kind(answer) else None}
                   for answer in recent],
    }


def _revealed_kind(answer: Answer) -> str | None:
    """What a worker may learn of an item they answered: a gold or qualification item is named once
    answered; a skipped gold item stays unmarked (else skipping would tell which items are gold)."""
    if answer.task.kind == Task.Kind.NORMAL or (answer.skip_reason and answer.task.kind == Task.Kind.GOLD):
        return None
    return answer.task.kind


# Answers of a project's stages counted per stage and per hour of the last day, in one pass:
# hours_ago is 0 for the last hour up to now, 23 for the oldest, NULL outside the window.
STAGE_ANSWER_COUNTS_SQL = """
SELECT t.stage_id,
       CASE WHEN a.created_at > %(since)s AND a.created_at <= %(now)s
            THEN FLOOR(EXTRACT(EPOCH FROM (%(now)s - a.created_at)) / 3600)::int END AS hours_ago,
       COUNT(*)
FROM labeling_answer a
JOIN labeling_task t ON t.id = a.task_id
JOIN labeling_stage s ON s.id = t.stage_id
WHERE s.project_id = %(project)s
GROUP BY 1, 2
"""
CONFIDENCE_BINS = 10
THROUGHPUT_HOURS = 24


def project_dashboard(project: Project, now: datetime | None = None) -> dict:
    """What a project's admins watch, in four queries: per stage in pipeline order its normal
    tasks (total, open, complete), its answers (every answer, gold and skips included: the work
    done) in all, in the last 24 hours and per hour of them (oldest first), and the confidence of
    every consensus of its tasks as a 10-bin histogram over [0, 1] with the mean; and the
    project's items by status."""
    now = now or timezone.now()
    normal = Q(tasks__kind=Task.Kind.NORMAL)
    # The last finished run and the open proposals ride along as subqueries: still one query for stages.
    last_run = (ConsensusRun.objects.filter(stage=OuterRef("pk"), status=ConsensusRun.Status.SUCCEEDED)
                .order_by("-pk"))
    proposals = ResultProposal.objects.filter(task__stage=OuterRef("pk")).order_by().values("task__stage")

    def open_proposals(state: str) -> Coalesce:
        counted = proposals.filter(state=state).annotate(count=Count("pk")).values("count")
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    stages = list(project.stages.order_by("position").annotate(
        tasks_total=Count("tasks", filter=normal),
        tasks_open=Count("tasks", filter=normal & Q(tasks__state=Task.State.OPEN)),
        tasks_complete=Count("tasks", filter=normal & Q(tasks__state=Task.State.COMPLETE)),
        last_run_id=Subquery(last_run.values("pk")[:1], output_field=IntegerField()),
        last_run_method=Subquery(last_run.values("method")[:1], output_field=CharField()),
        last_run_finished=Subquery(last_run.values("finished_at")[:1]),
        last_run_selection=Subquery(last_run.values("selection")[:1], output_field=JSONField()),
        proposals_in_review=open_proposals(ResultProposal.State.IN_REVIEW),
        proposals_unrouted=open_proposals(ResultProposal.State.UNROUTED)))
    hourly: dict[int, list[int]] = {stage.pk: [0] * THROUGHPUT_HOURS for stage in stages}
    totals: dict[int, int] = dict.fromkeys(hourly, 0)
    with connection.cursor() as cursor:
        cursor.execute(STAGE_ANSWER_COUNTS_SQL, {"project": project.pk, "now": now,
                                                 "since": now - timedelta(hours=THROUGHPUT_HOURS)})
        for stage_id, hours_ago, count in cursor.fetchall():
            totals[stage_id] += count
            if hours_ago is not None:
                hourly[stage_id][THROUGHPUT_HOURS - 1 - hours_ago] += count
    histograms: dict[int, list[int]] = {stage.pk: [0] * CONFIDENCE_BINS for stage in stages}
    confidence_sums: dict[int, float] = dict.fromkeys(hourly, 0.0)
    # A confidence of exactly 1 belongs in the top bin, as [0.9, 1] is closed.
    bins = (Consensus.objects.filter(task__stage__project=project)
            .annotate(bin=Least(Greatest(Floor(F("confidence") * CONFIDENCE_BINS), Value(0.0)),
                                Value(CONFIDENCE_BINS - 1.0)))
            .values_list("task__stage_id", "bin").annotate(count=Count("pk"), total=Sum("confidence")).order_by())
    for stage_id, bin_index, count, total in bins:
        histograms[stage_id][int(bin_index)] += count
        confidence_sums[stage_id] += total
    items = Item.objects.filter(project=project).aggregate(
        total=Count("pk"), **{status: Count("pk", filter=Q(status=status)) for status in Item.Status.values})
    return {
        "generated_at": now,
        "items": {"total": items["total"], "accepted": items[Item.Status.ACCEPTED],
                  "rejected": items[Item.Status.REJECTED], "in_progress": items[Item.Status.IN_PROGRESS]},
        "stages": [{
            "id": stage.pk, "name": stage.name, "kind": stage.kind, "audience": stage.audience,
            "position": stage.position,
            "tasks": {"total": stage.tasks_total, "open": stage.tasks_open, "complete": stage.tasks_complete},
            "answers": totals[stage.pk], "answers_last_24h": sum(hourly[stage.pk]),
            "throughput": hourly[stage.pk], "confidence_histogram": histograms[stage.pk],
            "mean_confidence": (round(confidence_sums[stage.pk] / sum(histograms[stage.pk]), 4)
                                if sum(histograms[stage.pk]) else None),
            **(_consensus_summary(stage) if stage.kind == Stage.Kind.LABEL else {}),
        } for stage in stages],
    }


def _consensus_summary(stage: Stage) -> dict:
    """A label stage's consensus method, what its last run used per field and why (auto's evidence),
    and the result changes runs proposed that experts have yet to settle."""
    run = None if stage.last_run_id is None else {
        "id": stage.last_run_id, "method": stage.last_run_method, "finished_at": stage.last_run_finished,
        "fields": stage.last_run_selection or {}}
    return {"consensus_method": stage.consensus_method, "last_run": run,
            "proposals": {"in_review": stage.proposals_in_review, "unrouted": stage.proposals_unrouted}}
