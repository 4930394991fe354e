"""What admins design: schemas, the pipeline of stages, routing, gold and qualification items,
instructions and quality rules, whole pipelines from templates, and project clones. Every
change is written to the audit trail."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from cardiocrowd.accounts.models import Project
from cardiocrowd.accounts.services import create_project
from cardiocrowd.imaging.models import Series

from . import audit
from .models import GoldAnswer, InstructionImage, Item, LabelSchema, PipelineSettings, Stage, Task
from .quality import make_gold, pipeline_settings
from .routing import validate_rules
from .schema import ImageGeometry, validate_answer, validate_schema
from .selectors import latest_schemas
from .templates import PIPELINES, TEMPLATES


class DesignError(ValueError):
    """A design an admin asked for does not hold together; `field` names what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@transaction.atomic
def save_schema_version(*, project: Project, name: str, definition: dict, user: AbstractBaseUser | None
                        ) -> LabelSchema:
    """Record `definition` as the next version of schema `name`. Raises schema.SchemaError."""
    validate_schema(definition)
    # Lock the project row: two admins saving at once get consecutive versions, not a clash.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    latest = LabelSchema.objects.filter(project=project, name=name).aggregate(latest=Max("version"))["latest"]
    schema = LabelSchema.objects.create(project=project, name=name, version=(latest or 0) + 1, definition=definition,
                                        created_by=user)
    audit.record("schema.saved", project_id=project.pk, actor_id=user.pk if user else None, schema_id=schema.pk,
                 name=name, version=schema.version)
    return schema


@dataclass(frozen=True)
class StageDesign:
    """Everything an admin sets on a stage (see labeling.models.Stage)."""

    name: str
    kind: str = Stage.Kind.LABEL
    audience: str = Stage.Audience.CROWD
    redundancy: int = 3
    max_redundancy: int | None = None  # None: no adaptive redundancy (= redundancy)
    confidence_target: float = 0.0
    gold_rate_min: float = 0.0
    gold_rate_max: float = 0.0
    requires_qualification: bool = False
    show_prelabels: bool = False
    lease_seconds: int = 600
    routing: tuple | list = ()
    consensus_method: str = Stage.ConsensusMethod.AUTO

    def check(self, schema: LabelSchema | None) -> None:
        if self.kind == Stage.Kind.LABEL and schema is None:
            raise DesignError("schema", "a label stage needs a schema")
        if self.kind != Stage.Kind.LABEL:
            if schema is not None:
                raise DesignError("schema", "a review stage uses the schema of what it reviews; give none")
            if self.audience != Stage.Audience.EXPERT:
                raise DesignError("audience", "review and adjudication are for experts")
        if self.consensus_method not in Stage.ConsensusMethod.values:
            raise DesignError("consensus_method", f"one of {', '.join(Stage.ConsensusMethod.values)}")
        if (self.max_redundancy or self.redundancy) < self.redundancy:
            raise DesignError("max_redundancy", "must be at least the redundancy")
        if self.gold_rate_min > self.gold_rate_max:
            raise DesignError("gold_rate_min", "must not exceed gold_rate_max")
        if self.kind != Stage.Kind.LABEL and (self.gold_rate_max or self.requires_qualification):
            raise DesignError("gold_rate_max", "gold and qualification apply to label stages")


@transaction.atomic
def append_stage(*, project: Project, schema: LabelSchema | None, design: StageDesign,
                 user: AbstractBaseUser | None) -> Stage:
    """Add a stage at the end of the project's pipeline. Raises DesignError, routing.RoutingError."""
    design.check(schema)
    Project.objects.select_for_update().filter(pk=project.pk).first()  # positions stay unique under races
    position = (project.stages.aggregate(last=Max("position"))["last"] or 0) + 1
    routing = list(design.routing)
    validate_rules(routing, set(project.stages.values_list("position", flat=True)) | {position}, position)
    stage = Stage.objects.create(
        project=project, schema=schema, position=position, routing=routing, name=design.name, kind=design.kind,
        audience=design.audience, redundancy=design.redundancy,
        max_redundancy=design.max_redundancy or design.redundancy, confidence_target=design.confidence_target,
        gold_rate_min=design.gold_rate_min, gold_rate_max=design.gold_rate_max,
        requires_qualification=design.requires_qualification, show_prelabels=design.show_prelabels,
        lease_seconds=design.lease_seconds, consensus_method=design.consensus_method)
    audit.record("stage.added", project_id=project.pk, actor_id=user.pk if user else None, stage_id=stage.pk,
                 schema_id=stage.schema_id, position=position, name=stage.name, kind=stage.kind)
    return stage


# What an admin may change on a stage after creating it; its kind, audience and schema are fixed
# (answers and gold already name them), and routing changes through set_routing.
TUNABLE_STAGE_FIELDS = ("name", "redundancy", "max_redundancy", "confidence_target", "gold_rate_min", "gold_rate_max",
                        "requires_qualification", "show_prelabels", "lease_seconds", "consensus_method")


@transaction.atomic
def tune_stage(*, stage: Stage, changes: dict, user: AbstractBaseUser) -> Stage:
    """Change a stage's settings. New redundancy applies to items queued from now on; leases
    already handed out keep their time. Raises DesignError."""
    stage = Stage.objects.select_for_update(of=("self",)).select_related("schema").get(pk=stage.pk)
    current = {name: getattr(stage, name) for name in TUNABLE_STAGE_FIELDS}
    merged = {**current, **{name: value for name, value in changes.items() if name in TUNABLE_STAGE_FIELDS}}
    if "redundancy" in changes and "max_redundancy" not in changes:
        merged["max_redundancy"] = max(merged["max_redundancy"], merged["redundancy"])
    StageDesign(kind=stage.kind, audience=stage.audience, **merged).check(stage.schema)
    for name, value in merged.items():
        setattr(stage, name, value)
    stage.save(update_fields=list(TUNABLE_STAGE_FIELDS))
    audit.record("stage.tuned", project_id=stage.project_id, actor_id=user.pk, stage_id=stage.pk,
                 changed={name: [current[name], merged[name]] for name in merged if merged[name] != current[name]})
    return stage


@transaction.atomic
def set_routing(*, stage: Stage, routing: list, user: AbstractBaseUser | None) -> Stage:
    """Replace a stage's routing rules (rules may point at stages added after it). Raises RoutingError."""
    validate_rules(routing, set(stage.project.stages.values_list("position", flat=True)), stage.position)
    previous, stage.routing = stage.routing, routing
    stage.save(update_fields=["routing"])
    audit.record("routing.changed", project_id=stage.project_id, actor_id=user.pk if user else None,
                 stage_id=stage.pk, previous=previous, routing=routing)
    return stage


def series_items(project_id: int, series_uids: list[str] | None) -> list[Item]:
    """One item per series (all the project's series when none are named)."""
    series = Series.objects.filter(study__project_id=project_id).select_related("study").order_by("pk")
    if series_uids is not None:
        series = series.filter(series_uid__in=series_uids)
    items = []
    for one in series:
        item, _ = Item.objects.get_or_create(project_id=project_id, study=one.study, series=one, instance=None)
        items.append(item)
    return items


def add_items_to_stage(*, stage: Stage, items: list[Item]) -> int:
    """Queue items in a stage, in bulk (an item already there is left as it is). Returns how many
    were new."""
    queued = set(Task.objects.filter(stage=stage, item__in=items).values_list("item_id", flat=True))
    new = [Task(stage=stage, item=item, open_slots=stage.redundancy, target_answers=stage.redundancy)
           for item in items if item.pk not in queued]
    Task.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent queueing of the same item wins
    return len(new)


@transaction.atomic
def queue_series(*, stage: Stage, series_uids: list[str] | None) -> int:
    """Queue one item per series in `stage`. Returns how many tasks were new."""
    return add_items_to_stage(stage=stage, items=series_items(stage.project_id, series_uids))


@transaction.atomic
def add_known_answer(*, stage: Stage, series_uid: str, value: dict, explanation: str, qualification: bool,
                     images_of: Callable[[Item, dict], Mapping[str, ImageGeometry]] | None,
                     user: AbstractBaseUser) -> GoldAnswer:
    """Make a series a gold item (mixed into the normal stream) or a qualification item of a
    label stage, with its expert answer; `images_of(item, value)` gives the images spatial answers
    are checked against. Raises DesignError, schema.AnswerError (nothing is stored then)."""
    if stage.kind != Stage.Kind.LABEL:
        raise DesignError("stage", "gold and qualification items belong to label stages")
    items = series_items(stage.project_id, [series_uid])
    if not items:
        raise DesignError("series_uid", "no such series in this project")
    normalized = validate_answer(stage.schema.definition, value, images_of(items[0], value) if images_of else None)
    kind = Task.Kind.QUALIFICATION if qualification else Task.Kind.GOLD
    task, created = Task.objects.get_or_create(stage=stage, item=items[0], defaults={
        "kind": kind, "open_slots": 0, "target_answers": 0, "state": Task.State.COMPLETE})
    if not created and task.kind != kind:
        raise DesignError("series_uid", f"this series is already a {task.kind} item of the stage")
    return make_gold(task=task, value=normalized, explanation=explanation, source="admin", by_id=user.pk)


SETTINGS_FIELDS = ("instructions", "qualification_pass_mark", "reliability_threshold", "min_gold_for_blocking")


@transaction.atomic
def save_settings(*, project: Project, changes: dict, user: AbstractBaseUser) -> PipelineSettings:
    settings = pipeline_settings(project.pk)
    for name in SETTINGS_FIELDS:
        if name in changes:
            setattr(settings, name, changes[name])
    settings.save()
    audit.record("settings.changed", project_id=project.pk, actor_id=user.pk, changed=sorted(changes))
    return settings


def add_instruction_image(*, project: Project, data: bytes, content_type: str, caption: str,
                          user: AbstractBaseUser) -> InstructionImage:
    return InstructionImage.objects.create(project=project, data=data, content_type=content_type, caption=caption,
                                           uploaded_by=user)


@transaction.atomic
def apply_pipeline_template(*, project: Project, key: str, user: AbstractBaseUser) -> list[Stage]:
    """Build a whole pipeline (schemas, stages, routing) from a built-in template into a project
    that has no stages yet. Raises DesignError."""
    if key not in PIPELINES:
        raise DesignError("template", f"no pipeline template {key!r}; one of {', '.join(PIPELINES)}")
    if project.stages.exists():
        raise DesignError("template", "the project already has a pipeline; clone it or add stages one by one")
    schemas = {}
    stages = []
    for stage in PIPELINES[key]["stages"]:
        name = stage.get("schema")
        if name and name not in schemas:
            schemas[name] = save_schema_version(project=project, name=name, definition=TEMPLATES[name]["schema"],
                                                user=user)
        design = StageDesign(**{k: v for k, v in stage.items() if k not in {"schema", "routing"}})
        stages.append(append_stage(project=project, schema=schemas.get(name), design=design, user=user))
    for stage, template in zip(stages, PIPELINES[key]["stages"], strict=True):
        set_routing(stage=stage, routing=template.get("routing", []), user=user)
    return stages


@transaction.atomic
def clone_project(*, source: Project, slug: str, name: str, user: AbstractBaseUser) -> Project:
    """A new project with the source's design: de-identification settings, instructions and
    quality rules, the newest version of each schema, and its stages with their routing. No
    images, items, gold or answers are copied, and the new project has its own pseudonym
    secret. The cloner becomes its admin."""
    project = create_project(slug=slug, name=name, creator=user, date_policy=source.date_policy,
                             retain_patient_characteristics=source.retain_patient_characteristics,
                             burned_in_policy=source.burned_in_policy, pixel_mask_rules=source.pixel_mask_rules)
    settings = pipeline_settings(source.pk)
    save_settings(project=project, changes={name: getattr(settings, name) for name in SETTINGS_FIELDS}, user=user)
    schemas = {schema.name: save_schema_version(project=project, name=schema.name, definition=schema.definition,
                                                user=user) for schema in latest_schemas(source)}
    for stage in source.stages.select_related("schema").order_by("position"):
        Stage.objects.create(
            project=project, name=stage.name, position=stage.position, kind=stage.kind, audience=stage.audience,
            schema=schemas[stage.schema.name] if stage.schema else None, redundancy=stage.redundancy,
            max_redundancy=stage.max_redundancy, confidence_target=stage.confidence_target,
            gold_rate_min=stage.gold_rate_min, gold_rate_max=stage.gold_rate_max,
            requires_qualification=stage.requires_qualification, show_prelabels=stage.show_prelabels,
            lease_seconds=stage.lease_seconds, routing=stage.routing, consensus_method=stage.consensus_method)
    audit.record("project.cloned", project_id=project.pk, actor_id=user.pk, source=source.slug)
    return project
