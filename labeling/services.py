"""Writes of the labeling engine."""
from collections import Counter
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from cardiocrowd.accounts.models import Project
from cardiocrowd.accounts.services import create_project
from cardiocrowd.imaging.models import Series

from .consensus.voting import vote_fields
from .models import Answer, Assignment, Consensus, Item, LabelSchema, RoutingDecision, Stage, Task
from .routing import decide, validate_rules
from .schema import ImageGeometry, validate_answer, validate_schema
from .selectors import latest_schemas


@transaction.atomic
def save_schema_version(*, project: Project, name: str, definition: dict, user: AbstractBaseUser | None
                        ) -> LabelSchema:
    """Record `definition` as the next version of schema `name`. Raises schema.SchemaError."""
    validate_schema(definition)
    # Lock the project row: two admins saving at once get consecutive versions, not a clash.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    latest = LabelSchema.objects.filter(project=project, name=name).aggregate(latest=Max("version"))["latest"]
    return LabelSchema.objects.create(project=project, name=name, version=(latest or 0) + 1, definition=definition,
                                      created_by=user)


# --- tasks, leases and answers ----------------------------------------------------------------


class NoTaskAvailable(Exception):
    """Nothing in this stage is left for this worker now."""


class AssignmentClosed(Exception):
    """The assignment's lease ran out or was given back; its answer can no longer be taken."""


# Highest priority first, FIFO among equals; rows another transaction is leasing are skipped, not
# waited for, so concurrent workers never block each other nor take the same slot. The partial
# index task_to_serve (stage, priority desc, id where open with slots) serves the ORDER BY.
NEXT_TASK_SQL = """
SELECT t.id, t.item_id FROM labeling_task t
WHERE t.stage_id = %s AND t.state = 'open' AND t.open_slots > 0
  AND NOT EXISTS (SELECT 1 FROM labeling_assignment a WHERE a.task_id = t.id AND a.worker_id = %s)
ORDER BY t.priority DESC, t.id
LIMIT 1
FOR UPDATE OF t SKIP LOCKED
"""


def add_items_to_stage(*, stage: Stage, items: list[Item]) -> int:
    """Queue items in a stage (an item already there is left as it is). Returns how many were new."""
    queued = set(Task.objects.filter(stage=stage, item__in=items).values_list("item_id", flat=True))
    new = [Task(stage=stage, item=item, open_slots=stage.redundancy) for item in items if item.pk not in queued]
    Task.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent queueing of the same item wins
    return len(new)


@transaction.atomic
def claim_next_task(*, stage: Stage, worker: AbstractBaseUser) -> Assignment:
    """Lease the next task of `stage` to `worker`. Raises NoTaskAvailable.

    A worker who already holds an open lease in the stage gets it again (a double click on
    "next" must not take two slots)."""
    held = Assignment.objects.held_by(worker).filter(task__stage=stage).first()
    if held is not None:
        return held
    with connection.cursor() as cursor:
        cursor.execute(NEXT_TASK_SQL, [stage.pk, worker.pk])
        row = cursor.fetchone()
    if row is None:
        raise NoTaskAvailable(stage.pk)
    task_id, item_id = row
    Task.objects.filter(pk=task_id).update(open_slots=F("open_slots") - 1)
    return Assignment.objects.create(task_id=task_id, item_id=item_id, worker=worker,
                                     lease_expires_at=timezone.now() + timedelta(seconds=stage.lease_seconds))


@transaction.atomic
def release_expired_leases() -> int:
    """Expire every open lease past its time and give its slot back. Returns how many."""
    expired = list(Assignment.objects.select_for_update(skip_locked=True)
                   .filter(state=Assignment.State.OPEN, lease_expires_at__lte=timezone.now())
                   .values_list("pk", "task_id"))
    _give_back([pk for pk, _ in expired], [task_id for _, task_id in expired])
    return len(expired)


def _give_back(assignment_ids: list[int], task_ids: list[int]) -> None:
    Assignment.objects.filter(pk__in=assignment_ids).update(state=Assignment.State.EXPIRED)
    for task_id, count in Counter(task_ids).items():
        Task.objects.filter(pk=task_id).update(open_slots=F("open_slots") + count)


def submit_answer(*, assignment: Assignment, value: dict, skip_reason: str = "",
                  image: ImageGeometry | None = None) -> tuple[Answer, bool]:
    """Record the worker's answer (or reasoned skip) and close the lease. Returns the answer and
    whether it is new: a retried submit returns the first answer and stores nothing.
    Raises AssignmentClosed, schema.AnswerError (nothing is stored then)."""
    try:
        return _record_answer(assignment_id=assignment.pk, value=value, skip_reason=skip_reason, image=image)
    except _LeaseRanOut:
        _expire(assignment.pk)  # in a transaction of its own: the slot goes back to the pool now
        raise AssignmentClosed(assignment.pk) from None


class _LeaseRanOut(Exception):
    pass


@transaction.atomic
def _record_answer(*, assignment_id: int, value: dict, skip_reason: str, image: ImageGeometry | None
                   ) -> tuple[Answer, bool]:
    assignment = Assignment.objects.select_for_update().select_related("task__stage__schema").get(pk=assignment_id)
    if assignment.state == Assignment.State.SUBMITTED:
        return assignment.answer, False
    if assignment.state != Assignment.State.OPEN:
        raise AssignmentClosed(assignment.pk)
    if assignment.lease_expires_at is not None and assignment.lease_expires_at <= timezone.now():
        raise _LeaseRanOut
    schema = assignment.task.stage.schema
    normalized = {} if skip_reason else validate_answer(schema.definition, value, image)
    answer = Answer.objects.create(assignment=assignment, task=assignment.task, worker_id=assignment.worker_id,
                                   schema=schema, value=normalized, skip_reason=skip_reason[:200])
    assignment.state = Assignment.State.SUBMITTED
    assignment.save(update_fields=["state"])
    task = Task.objects.select_for_update().get(pk=assignment.task_id)
    task.answer_count += 1
    if task.answer_count >= assignment.task.stage.redundancy:
        task.state = Task.State.COMPLETE
        from .tasks import aggregate_task_task

        transaction.on_commit(lambda: aggregate_task_task.delay(task.pk))
    task.save(update_fields=["answer_count", "state"])
    return answer, True


@transaction.atomic
def _expire(assignment_id: int) -> None:
    expired = Assignment.objects.select_for_update().filter(
        pk=assignment_id, state=Assignment.State.OPEN, lease_expires_at__lte=timezone.now()).first()
    if expired is not None:
        _give_back([expired.pk], [expired.task_id])


@transaction.atomic
def append_stage(*, project: Project, schema: LabelSchema, name: str, audience: str, redundancy: int,
                 lease_seconds: int, routing: list) -> Stage:
    """Add a stage at the end of the project's pipeline. Raises routing.RoutingError."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # positions stay unique under races
    position = (project.stages.aggregate(last=Max("position"))["last"] or 0) + 1
    validate_rules(routing, set(project.stages.values_list("position", flat=True)) | {position}, position)
    return Stage.objects.create(project=project, schema=schema, name=name, audience=audience, position=position,
                                redundancy=redundancy, lease_seconds=lease_seconds, routing=routing)


@transaction.atomic
def set_routing(*, stage: Stage, routing: list) -> Stage:
    """Replace a stage's routing rules (rules may point at stages added after it). Raises RoutingError."""
    validate_rules(routing, set(stage.project.stages.values_list("position", flat=True)), stage.position)
    stage.routing = routing
    stage.save(update_fields=["routing"])
    return stage


@transaction.atomic
def queue_series(*, stage: Stage, series_uids: list[str] | None) -> int:
    """One item per series (all the project's series when none are named), queued in `stage`.
    Returns how many tasks were new."""
    series = Series.objects.filter(study__project_id=stage.project_id).select_related("study")
    if series_uids is not None:
        series = series.filter(series_uid__in=series_uids)
    items = []
    for one in series:
        item, _ = Item.objects.get_or_create(project_id=stage.project_id, study=one.study, series=one, instance=None)
        items.append(item)
    return add_items_to_stage(stage=stage, items=items)


CATEGORICAL_KINDS = {"single_choice", "yes_no_unsure"}


@transaction.atomic
def aggregate_task(*, task_id: int) -> Consensus | None:
    """Majority vote over the task's answers, per categorical field, written in one upsert.
    Skips count as answers but not as votes. The full aggregation engine replaces the method in
    issue 4; the contract (one Consensus row per task, rewritten whole) stays."""
    task = Task.objects.select_related("stage__schema").filter(pk=task_id).first()
    if task is None:
        return None
    keys = [field["key"] for field in task.stage.schema.definition["fields"] if field["kind"] in CATEGORICAL_KINDS]
    answers = list(task.answers.filter(skip_reason="").values_list("value", flat=True))
    fields, confidence = vote_fields(answers, keys)
    consensus, _ = Consensus.objects.update_or_create(task=task, defaults={
        "method": "majority_vote", "fields": fields, "confidence": confidence,
        "answer_count": task.answers.count()})
    route_task(task=task, consensus=consensus)
    return consensus


def route_task(*, task: Task, consensus: Consensus) -> RoutingDecision:
    """Apply the stage's routing rules to a completed task: accept the item, or queue it in the
    target stage. Idempotent: the same task decides the same way and is queued once."""
    skip_reasons = list(task.answers.exclude(skip_reason="").values_list("skip_reason", flat=True))
    decision = decide(task.stage.routing, task_id=task.pk, consensus=consensus.fields,
                      confidence=consensus.confidence, skip_reasons=skip_reasons)
    target = None
    if decision.action == "send":
        target = Stage.objects.get(project_id=task.stage.project_id, position=decision.stage_position)
        add_items_to_stage(stage=target, items=[task.item])
    routed, _ = RoutingDecision.objects.update_or_create(
        task=task, defaults={"action": decision.action, "target": target, "rule": decision.rule})
    return routed


@transaction.atomic
def clone_project(*, source: Project, slug: str, name: str, user: AbstractBaseUser) -> Project:
    """A new project with the source's design: de-identification settings, the newest version of
    each schema, and its stages with their routing. No images, items or answers are copied, and
    the new project has its own pseudonym secret. The cloner becomes its admin."""
    project = create_project(slug=slug, name=name, creator=user, date_policy=source.date_policy,
                             retain_patient_characteristics=source.retain_patient_characteristics,
                             burned_in_policy=source.burned_in_policy, pixel_mask_rules=source.pixel_mask_rules)
    schemas = {schema.name: save_schema_version(project=project, name=schema.name, definition=schema.definition,
                                                user=user) for schema in latest_schemas(source)}
    for stage in source.stages.select_related("schema").order_by("position"):
        Stage.objects.create(project=project, name=stage.name, position=stage.position, audience=stage.audience,
                             schema=schemas[stage.schema.name], redundancy=stage.redundancy,
                             lease_seconds=stage.lease_seconds, routing=stage.routing)
    return project
