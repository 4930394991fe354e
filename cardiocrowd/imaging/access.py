"""Which de-identified instances a member may see. Every DICOMweb read goes through here.

Admins see every instance of the project (quarantined ones too, to review them); experts see
every available instance; a crowd worker sees only the available instances of the items it
holds an open, unexpired assignment for.
"""
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, QuerySet
from rest_framework.exceptions import NotFound

from cardiocrowd.accounts.access import ProjectAccess
from labeling.models import Assignment

from .models import Instance


def visible_instances(access: ProjectAccess, user: AbstractBaseUser) -> QuerySet[Instance]:
    instances = Instance.objects.filter(project=access.project)
    if access.is_admin:
        return instances
    instances = instances.available()
    if access.is_staff_role:
        return instances
    held = Assignment.objects.held_by(user).filter(item__project=access.project)
    return instances.filter(
        Exists(held.filter(item__instance=OuterRef("pk")))
        | Exists(held.filter(item__instance__isnull=True, item__series=OuterRef("series_id")))
        | Exists(held.filter(item__series__isnull=True, item__study=OuterRef("series__study_id")))
    )


def get_instance_for_viewer(access: ProjectAccess, user: AbstractBaseUser, *, study_uid: str, series_uid: str,
                            sop_uid: str, with_metadata: bool = False) -> Instance:
    """The instance if this user may see it; NotFound whether it is missing or forbidden."""
    instances = visible_instances(access, user).filter(
        sop_instance_uid=sop_uid, series__series_uid=series_uid, series__study__study_uid=study_uid
    )
    if not with_metadata:
        instances = instances.defer("metadata")
    instance = instances.first()
    if instance is None:
        raise NotFound("No such instance.")
    return instance
