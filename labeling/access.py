"""How a view gets a stage or an assignment: role checks live here. A forbidden object and a
missing one give the same NotFound."""
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.exceptions import NotFound, PermissionDenied

from cardiocrowd.accounts.access import ProjectAccess, Role
from cardiocrowd.accounts.models import Membership, Project

from .models import Stage

AUDIENCE_ROLES = {Stage.Audience.CROWD: {Role.CROWD}, Stage.Audience.EXPERT: {Role.EXPERT, Role.ADMIN}}


def get_stage(access: ProjectAccess, stage_id: int) -> Stage:
    stage = Stage.objects.select_related("schema").filter(project=access.project, pk=stage_id).first()
    if stage is None:
        raise NotFound("No such stage.")
    return stage


def get_stage_to_work(access: ProjectAccess, stage_id: int) -> Stage:
    """A stage this member may take tasks from: crowd stages for crowd workers, expert stages for
    experts and admins, adjudication for senior experts and admins."""
    return _check_audience(access, get_stage(access, stage_id))


# The stage with the member's role in its project, in one query (for next-task, the hot path).
STAGE_FOR_MEMBER_SQL = """
SELECT s.*, m.role, m.senior FROM labeling_stage s
JOIN accounts_project p ON p.id = s.project_id
JOIN accounts_membership m ON m.project_id = p.id AND m.user_id = %s
WHERE s.id = %s AND p.slug = %s
"""


def get_stage_and_access(user: AbstractBaseUser, slug: str, stage_id: int) -> tuple[ProjectAccess, Stage]:
    """get_project_access + get_stage_to_work in one query."""
    stage = (next(iter(Stage.objects.raw(STAGE_FOR_MEMBER_SQL, [user.pk, stage_id, slug])), None)
             if user.is_authenticated else None)
    if stage is None:
        if user.is_authenticated and Membership.objects.filter(project__slug=slug, user=user).exists():
            raise NotFound("No such stage.")
        raise NotFound("No such project.")
    stage.project = Project.from_db("default", ["id", "slug"], [stage.project_id, slug])
    access = ProjectAccess(project=stage.project, role=stage.role, senior=stage.senior)
    return access, _check_audience(access, stage)


def _check_audience(access: ProjectAccess, stage: Stage) -> Stage:
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
