"""Writes of the labeling engine."""
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max

from cardiocrowd.accounts.models import Project

from .models import LabelSchema
from .schema import validate_schema


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
