"""Which de-identified instances a member may see. Every DICOMweb read goes through here.

Admins see every instance of the project (quarantined ones too, to review them); experts see
every available instance; a crowd worker sees only the available instances of the items it
holds an open, unexpired assignment for.
"""
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q, QuerySet
from rest_framework.exceptions import NotFound

from cardiocrowd.accounts.access import STAFF_ROLES, ProjectAccess, Role
from labeling.models import Assignment

from .models import Instance


def visible_instances(access: ProjectAccess, user: AbstractBaseUser) -> QuerySet[Instance]:
    instances = Instance.objects.filter(project=access.project)
    if access.is_admin:
        return instances
    instances = instances.available()
    if access.is_staff_role:
        return instances
    # Filter by plain id lists: three EXISTS subqueries cost more to build than to run.
    by_instance, by_series, by_study = _held_scopes(user, access.project.pk)
    if not (by_instance or by_series or by_study):
        return instances.none()
    return instances.filter(Q(pk__in=by_instance) | Q(series_id__in=by_series) | Q(series__study_id__in=by_study))


def _held_scopes(user: AbstractBaseUser, project_id: int) -> tuple[set[int], set[int], set[int]]:
    """Instances, series and studies of the items a worker holds (a handful of leases)."""
    by_instance, by_series, by_study = set(), set(), set()
    for instance_id, series_id, study_id in Assignment.objects.held_by(user).filter(
            item__project_id=project_id).values_list("item__instance_id", "item__series_id", "item__study_id"):
        if instance_id:
            by_instance.add(instance_id)
        elif series_id:
            by_series.add(series_id)
        else:
            by_study.add(study_id)
    return by_instance, by_series, by_study


def get_instance_for_viewer(user: AbstractBaseUser, slug: str, *, study_uid: str, series_uid: str,
                            sop_uid: str) -> Instance:
    """One instance for the frame endpoint (the viewer's hot path): membership, role and instance
    in one query, and one more for a crowd worker's leases. The rules are those of
    visible_instances. NotFound whether the instance is missing or forbidden."""
    instance = (
        Instance.objects.filter(project__slug=slug, project__memberships__user=user, sop_instance_uid=sop_uid,
                                series__series_uid=series_uid, series__study__study_uid=study_uid)
        .annotate(role=F("project__memberships__role"), study_id=F("series__study_id"))
        .only("project_id", "series_id", "status", "relative_path", "frame_index", "transfer_syntax_uid",
              "number_of_frames")
        .first()
    )
    if instance is None or not _may_see(user, instance):
        raise NotFound("No such instance.")
    return instance


def _may_see(user: AbstractBaseUser, instance: Instance) -> bool:
    if instance.role == Role.ADMIN:
        return True
    if instance.status != Instance.Status.AVAILABLE:
        return False
    if instance.role in STAFF_ROLES:
        return True
    by_instance, by_series, by_study = _held_scopes(user, instance.project_id)
    return instance.pk in by_instance or instance.series_id in by_series or instance.study_id in by_study
