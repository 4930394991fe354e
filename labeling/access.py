"""How a view gets a stage or an assignment: role checks live here. A forbidden object and a
missing one give the same NotFound."""
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.exceptions import NotFound, PermissionDenied

from cardiocrowd.accounts.access import ProjectAccess, Role

from .models import Assignment, Stage

AUDIENCE_ROLES = {Stage.Audience.CROWD: {Role.CROWD}, Stage.Audience.EXPERT: {Role.EXPERT, Role.ADMIN}}


def get_stage(access: ProjectAccess, stage_id: int) -> Stage:
    stage = Stage.objects.select_related("schema").filter(project=access.project, pk=stage_id).first()
    if stage is None:
        raise NotFound("No such stage.")
    return stage


def get_stage_to_work(access: ProjectAccess, stage_id: int) -> Stage:
    """A stage this member may take tasks from: crowd stages for crowd workers, expert stages for
    experts and admins, adjudication for senior experts and admins."""
    stage = get_stage(access, stage_id)
    if access.role not in AUDIENCE_ROLES[stage.audience]:
        raise PermissionDenied(f"This stage is for the {stage.audience} tier.")
    if stage.kind == Stage.Kind.ADJUDICATION and not (access.senior or access.is_admin):
        raise PermissionDenied("Adjudication is for senior experts.")
    return stage


def get_stage_to_review(access: ProjectAccess, stage_id: int) -> Stage:
    """A review or adjudication stage whose queue this expert (or admin) may look at."""
    if not access.is_staff_role:
        raise NotFound("No such stage.")
    stage = get_stage(access, stage_id)
    if stage.kind == Stage.Kind.LABEL:
        raise NotFound("This is not a review stage.")
    return stage


def get_assignment_for_worker(user: AbstractBaseUser, assignment_id: int) -> Assignment:
    """Only the worker holding an assignment may answer it."""
    assignment = Assignment.objects.filter(pk=assignment_id, worker=user).select_related("item", "task__stage").first()
    if assignment is None:
        raise NotFound("No such assignment.")
    return assignment
