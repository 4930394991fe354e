"""Reads of the exports app: the snapshot an export holds (one record per decided item, with its
provenance) and the export lists of the API."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterator

from django.db.models import Prefetch, QuerySet

from cardiocrowd.accounts.models import Project
from labeling.models import Answer, ConsensusRun, Item, RoutingDecision, Stage, Task, WorkerEstimate

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


def worker_pseudonym(secret: str, worker_id: int) -> str:
    """A worker's name in exports: a keyed hash of the account's id with the project's pseudonym
    secret, the same in every export of the project, different between projects, and not
    reversible without the secret (never the username or email)."""
    digest = hmac.new(secret.encode(), f"worker:{worker_id}".encode(), hashlib.sha256).digest()
    return "W" + base64.b32encode(digest[:10]).decode()


class _Runs:
    """The consensus runs labels name, read once each per build."""

    def __init__(self) -> None:
        self.known: dict[int, dict | None] = {}

    def __call__(self, run_id: int | None) -> dict | None:
        if run_id is None:
            return None
        if run_id not in self.known:
            run = ConsensusRun.objects.filter(pk=run_id).values("pk", "method", "started_at", "finished_at").first()
            self.known[run_id] = None if run is None else {
                "id": run["pk"], "method": run["method"], "started_at": _iso(run["started_at"]),
                "finished_at": _iso(run["finished_at"])}
        return self.known[run_id]


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def export_document(export: Export) -> dict:
    """Everything an export's files are written from: its header, the label schemas its items were
    labeled in, one record per item (see item_record) and, under "answers", every worker's answer
    in the label stages of those items (see answer_records; written to answers.csv and answers.json,
    not labels.json). Plain JSON-ready data."""
    schemas: dict[tuple[str, int], dict] = {}
    runs, answers = _Runs(), []
    estimates = _worker_estimates(export.project_id)
    secret = export.project.pseudonym_secret
    items = []
    for item in _items_with_history(export):
        items.append(item_record(item, schemas, runs=runs))
        answers += answer_records(item, schemas, secret=secret, estimates=estimates)
    return {
        "format": DOCUMENT_FORMAT, "format_version": DOCUMENT_FORMAT_VERSION,
        "project": export.project.slug, "export_version": export.version,
        "requested_at": export.requested_at.isoformat(),
        "requested_by": export.requested_by.get_username() if export.requested_by else None,
        "schemas": [{"name": name, "version": version, "definition": definition}
                    for (name, version), definition in sorted(schemas.items())],
        "items": items,
        "answers": answers,
    }


def _worker_estimates(project_id: int) -> dict[tuple[int, int], dict[str, dict]]:
    """(stage, worker) → {field: what the stage's last consensus run learned of the worker}."""
    found: dict[tuple[int, int], dict[str, dict]] = {}
    for estimate in WorkerEstimate.objects.filter(stage__project_id=project_id).order_by("pk"):
        learned = {"reliability": estimate.reliability, "run": estimate.run_id}
        if "bias" in estimate.learned:  # a measurement: its bias and noise, no reliability
            learned.update(bias=estimate.learned["bias"], noise=estimate.learned["noise"])
        found.setdefault((estimate.stage_id, estimate.worker_id), {})[estimate.field] = learned
    return found


def answer_records(item: Item, schemas: dict[tuple[str, int], dict], *, secret: str,
                   estimates: dict[tuple[int, int], dict[str, dict]]) -> list[dict]:
    """Every answer given to the item in a label stage (all rounds, skips and gold included), by
    pseudonymous worker, with what the stage's last consensus run learned of that worker per field:
    enough to aggregate the labels again another way. Adds the answers' schemas to `schemas`."""
    records = []
    for task in item.tasks.all():
        if task.stage.kind != Stage.Kind.LABEL:
            continue
        for answer in task.answers.all():
            schemas[(answer.schema.name, answer.schema.version)] = answer.schema.definition
            records.append({
                "item": item.pk, "stage": task.stage.name, "stage_position": task.stage.position,
                "task_kind": task.kind, "task_round": task.round, "round": answer.round,
                "worker": worker_pseudonym(secret, answer.worker_id),
                "schema": {"name": answer.schema.name, "version": answer.schema.version},
                "value": answer.value, "skip_reason": answer.skip_reason,
                "prelabel_shown": answer.prelabel is not None, "created_at": _iso(answer.created_at),
                "estimates": estimates.get((task.stage_id, answer.worker_id), {}),
            })
    return sorted(records, key=lambda record: (record["stage_position"], record["created_at"] or ""))


def _items_with_history(export: Export) -> Iterator[Item]:
    """Decided items with every task, answer and routing decision, a constant number of queries
    per ITEMS_PER_QUERY items."""
    tasks = Task.objects.select_related("stage__schema", "consensus").order_by("pk")
    answers = Answer.objects.select_related("worker", "schema").order_by("pk")
    return (decided_items(export).select_related("study", "series", "instance")
            .prefetch_related(Prefetch("tasks", queryset=tasks), Prefetch("tasks__answers", queryset=answers),
                              Prefetch("tasks__routing_decisions", queryset=RoutingDecision.objects.order_by("pk")))
            .order_by("pk").iterator(chunk_size=ITEMS_PER_QUERY))


def item_record(item: Item, schemas: dict[tuple[str, int], dict], *, runs: _Runs | None = None) -> dict:
    """One item as exported: its images, hard label (the result), soft labels (the consensus of
    the label stage behind the result: per field value, share, votes, anything else the consensus
    keeps and, for choices, the probability of each option under that same consensus) and provenance.
    Adds the item's label schema to `schemas`."""
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
        "study_uid": item.study.study_uid,  # the study's pseudonym (a keyed hash of the source UID)
        "patient_pseudonym": item.study.patient_pseudonym,
        "series_uid": item.series.series_uid if item.series_id else None,
        "instance_uid": item.instance.sop_instance_uid if item.instance_id else None,
        "first_frame": item.first_frame,
        "last_frame": item.last_frame,
        "label": item.result if item.status == Item.Status.ACCEPTED else None,
        "label_source": _label_source(item, deciding),
        "soft": _soft_labels(labeled, schema.definition if schema else None, runs or _Runs()),
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


def _label_source(item: Item, deciding: Task | None) -> str | None:
    """Who set the hard label: the label stage's consensus ("consensus"), or experts in a review or
    adjudication ("review", the soft labels then being the crowd's that they reviewed)."""
    if item.status != Item.Status.ACCEPTED or deciding is None:
        return None
    return "consensus" if deciding.stage.kind == Stage.Kind.LABEL else "review"


def _soft_labels(task: Task | None, definition: dict | None, runs: _Runs) -> dict | None:
    consensus = getattr(task, "consensus", None) if task is not None else None
    if consensus is None or definition is None:
        return None
    given = [answer.value for answer in task.answers.all() if answer.round == task.round and not answer.skip_reason]
    fields = {}
    for field in definition["fields"]:
        found = consensus.fields.get(field["key"])
        if found is None:
            continue
        # value, share and votes, and whatever else the consensus method keeps (an interval, the
        # method and run that set it, say); its posterior is the distribution below.
        kept = {key: value for key, value in found.items() if key != "posterior"}
        fields[field["key"]] = {"value": found.get("value"), "share": found.get("share"), "votes": found.get("votes"),
                                **kept}
        if field["kind"] in CHOICE_KINDS:
            fields[field["key"]]["distribution"] = _distribution(field, given, found.get("posterior"))
    run_ids = [entry["run"] for entry in fields.values() if entry.get("run") is not None]
    return {"stage": task.stage.name, "method": consensus.method, "answers": consensus.answer_count,
            "confidence": consensus.confidence, "run": runs(max(run_ids)) if run_ids else None, "fields": fields}


def _distribution(field: dict, given: list[dict], posterior: dict | None = None) -> dict[str, float]:
    """The probability of each option under the consensus the hard label came from: the posterior a
    weighted method (Dawid-Skene, …) kept beside its value, else (a vote) the share of the answers
    that gave this field choosing each option; for multiple choice, each option's share of answers
    that ticked it. Never the vote shares beside a weighted value: the two can disagree (two workers
    saying "fair" while the learned confusion makes "good" more likely)."""
    options = YES_NO_UNSURE if field["kind"] == "yes_no_unsure" else [option["value"] for option in field["options"]]
    if posterior is not None:
        return {option: float(posterior.get(str(option), 0.0)) for option in options}
    chosen = [answer[field["key"]] for answer in given if answer.get(field["key"]) is not None]
    counts = Counter(option for value in chosen for option in (value if isinstance(value, list) else [value]))
    return {option: round(counts[option] / len(chosen), 4) if chosen else 0.0 for option in options}
