"""Reads of the labeling engine for its endpoints."""
from django.db.models import OuterRef, QuerySet, Subquery

from cardiocrowd.accounts.models import Project
from cardiocrowd.imaging.geometry import geometry_from_metadata
from cardiocrowd.imaging.models import Instance

from .models import Assignment, Item, LabelSchema, Stage
from .schema import ImageGeometry


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


def item_geometry(item: Item) -> ImageGeometry | None:
    """The image spatial answers are checked against: the item's one instance, else none."""
    metadata = list(item_instances(item).values_list("metadata", flat=True)[:2])
    return geometry_from_metadata(metadata[0]) if len(metadata) == 1 else None


def task_payload(assignment: Assignment, stage: Stage, dicomweb_base: str) -> dict:
    """What the labeling screen needs for one lease: the schema and where the images are.
    Never other workers' answers, consensus or gold: the worker labels blind."""
    instances = [{
        "study_uid": instance.series.study.study_uid,
        "series_uid": instance.series.series_uid,
        "sop_instance_uid": instance.sop_instance_uid,
        "frames": instance.number_of_frames,
        "frame_time_ms": instance.frame_time_ms,
        "url": (f"{dicomweb_base}/studies/{instance.series.study.study_uid}/series/{instance.series.series_uid}"
                f"/instances/{instance.sop_instance_uid}"),
    } for instance in item_instances(assignment.item).defer("metadata", "frame_index")]
    return {
        "assignment": assignment.pk,
        "stage": {"id": stage.pk, "name": stage.name},
        "lease_expires_at": assignment.lease_expires_at,
        "schema": {"name": stage.schema.name, "version": stage.schema.version,
                   "definition": stage.schema.definition},
        "dicomweb": dicomweb_base,
        "instances": instances,
    }
