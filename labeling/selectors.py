"""Reads of the labeling engine for its endpoints."""
from django.db.models import OuterRef, QuerySet, Subquery

from cardiocrowd.accounts.models import Project

from .models import LabelSchema


def latest_schemas(project: Project) -> QuerySet[LabelSchema]:
    """The newest version of each of the project's schemas, by name."""
    newest = LabelSchema.objects.filter(project=project, name=OuterRef("name")).order_by("-version").values("pk")[:1]
    return (LabelSchema.objects.filter(project=project, pk=Subquery(newest))
            .select_related("created_by").order_by("name"))
