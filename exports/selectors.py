"""Reads of the exports app: the snapshot an export holds (one record per decided item, with its
provenance) and the export lists of the API."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from django.db.models import Prefetch, QuerySet

from cardiocrowd.accounts.models import Project
from labeling.models import Answer, Item, RoutingDecision, Stage, Task

from .models import Export, ExportFile

DOCUMENT_FORMAT = "cardiocrowd-labels"
DOCUMENT_FORMAT_VERSION = 1
ITEMS_PER_QUERY = 500
CHOICE_KINDS = {"single_choice", "multiple_choice", "yes_no_unsure"}
YES_NO_UNSURE = ["yes", "no", "unsure"]


def project_exports(project: Project) -> QuerySet[Export]:
    """The project's exports, newest first, with what their serializer shows (two queries)."""
    return (Export.objects.filter(project=project).select_related("project", "requested_by")
            .prefetch_related(Prefetch("files", queryset=ExportFile.objects.order_by("kind", "name")))
            .order_by("-version"))


def decided_items(export: Export) -> QuerySet[Item]:
    """The items an export holds: accepted or rejected at or before it was requested."""
    return Item.objects.filter(project_id=export.project_id, status__in=[Item.Status.ACCEPTED, Item.Status.REJECTED],
                               decided_at__lte=export.requested_at)


def export_document(export: Export) -> dict:
    """Everything an export's files are written from: its header, the label schemas its items were
    labeled in, and one record per item (see item_record). Plain JSON-ready data."""
    schemas: dict[tuple[str, int], dict] = {}
    items = [item_record(item, schemas) for item in _items_with_history(export)]
    return {
        "format": DOCUMENT_FORMAT, "format_version": DOCUMENT_FORMAT_VERSION,
        "project": export.project.slug, "export_version": export.version,
        "requested_at": export.requested_at.isoformat(),
        "requested_by": export.requested_by.get_username() if export.requested_by else None,
        "schemas": [{"name": name, "version": version, "definition": definition}
                    for (name, version), definition in sorted(schemas.items())],
        "items": items,
    }


def _items_with_history(export: Export) -> Iterator[Item]:
    """Decided items with every task, answer and routing decision, a constant number of queries
    per ITEMS_PER_QUERY items."""
    tasks = Task.objects.select_related("stage__schema", "consensus").order_by("pk")
    answers = Answer.objects.select_related("worker").order_by("pk")
    return (decided_items(export).select_related("study", "series", "instance")
            .prefetch_related(Prefetch("tasks", queryset=tasks), Prefetch("tasks__answers", queryset=answers),
                              Prefetch("tasks__routing_decisions", queryset=RoutingDecision.objects.order_by("pk")))
            .order_by("pk").iterator(chunk_size=ITEMS_PER_QUERY))


def item_record(item: Item, schemas: dict[tuple[str, int], dict]) -> dict:
    """One item as exported: its images, hard label (the result), soft labels (the consensus of
    the label stage behind the result: per field value, share, votes, anything else the consensus
    keeps and, for choices, the share of answers per option) and provenance. Adds the item's label
    schema to `schemas`."""
    tasks = {task.pk: task for task in item.tasks.all()}
    deciding = tasks.get(item.result_task_id)
    labeled = _label_task(deciding, tasks)
    schema = labeled.stage.schema if labeled is not None else None
    if schema is not None:
        schemas[(schema.name, schema.version)] = schema.definition
    return {
        "item": item.pk,
        "status": item.status,
        "rejected": item.status == Item.Status.REJECTED,
        "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        "study_uid": item.study.study_uid,
        "series_uid": item.series.series_uid if item.series_id else None,
        "instance_uid": item.instance.sop_instance_uid if item.instance_id else None,
        "first_frame": item.first_frame,
        "last_frame": item.last_frame,
        "label": item.result if item.status == Item.Status.ACCEPTED else None,
        "soft": _soft_labels(labeled, schema.definition if schema else None),
        "provenance": {
            "schema": {"name": schema.name, "version": schema.version} if schema else None,
            "consensus": _consensus_summary(deciding),
            "workers": len({answer.worker_id for task in tasks.values() if task.stage.kind == Stage.Kind.LABEL
                            for answer in task.answers.all()}),
            "reviewers": [{"username": answer.worker.get_username(), "verdict": answer.verdict,
                           "stage": task.stage.name, "round": answer.round, "note": answer.note}
                          for task in tasks.values() if task.stage.kind != Stage.Kind.LABEL
                          for answer in task.answers.all()],
            "stage_path": [{"stage": task.stage.name, "position": task.stage.position, "kind": task.stage.kind,
                            "round": decision.round, "action": decision.action}
                           for decision, task in sorted(((decision, task) for task in tasks.values()
                                                         for decision in task.routing_decisions.all()),
                                                        key=lambda pair: pair[0].pk)],
        },
    }


def _label_task(task: Task | None, tasks: dict[int, Task]) -> Task | None:
    """The label-stage task a result comes from: the deciding task itself, or, for a review or
    adjudication, the label task at the root of what it reviewed (read from the prefetched tasks;
    the walk stops at the first label task, so a send-back's loop is never followed)."""
    seen = set()
    while task is not None and task.stage.kind != Stage.Kind.LABEL and task.pk not in seen:
        seen.add(task.pk)
        task = tasks.get(task.source_task_id)
    return task if task is not None and task.stage.kind == Stage.Kind.LABEL else None


def _consensus_summary(task: Task | None) -> dict | None:
    consensus = getattr(task, "consensus", None) if task is not None else None
    if consensus is None:
        return None
    return {"stage": task.stage.name, "method": consensus.method, "answers": consensus.answer_count,
            "confidence": consensus.confidence}


def _soft_labels(task: Task | None, definition: dict | None) -> dict | None:
    consensus = getattr(task, "consensus", None) if task is not None else None
    if consensus is None or definition is None:
        return None
    given = [answer.value for answer in task.answers.all() if answer.round == task.round and not answer.skip_reason]
    fields = {}
    for field in definition["fields"]:
        found = consensus.fields.get(field["key"])
        if found is None:
            continue
        # value, share and votes, and whatever else the consensus method keeps (an interval, say)
        fields[field["key"]] = {"value": found.get("value"), "share": found.get("share"), "votes": found.get("votes"),
                                **found}
        if field["kind"] in CHOICE_KINDS:
            fields[field["key"]]["distribution"] = _distribution(field, given)
    return {"stage": task.stage.name, "method": consensus.method, "answers": consensus.answer_count,
            "confidence": consensus.confidence, "fields": fields}


def _distribution(field: dict, given: list[dict]) -> dict[str, float]:
    """Share of the answers (that gave this field) choosing each option; for multiple choice,
    each option's share of answers that ticked it."""
    options = YES_NO_UNSURE if field["kind"] == "yes_no_unsure" else [option["value"] for option in field["options"]]
    chosen = [answer[field["key"]] for answer in given if answer.get(field["key"]) is not None]
    counts = Counter(option for value in chosen for option in (value if isinstance(value, list) else [value]))
    return {option: round(counts[option] / len(chosen), 4) if chosen else 0.0 for option in options}
