"""The only way a view gets a project: membership and role are checked here.

A project the user is not a member of and a project that does not exist give the same
NotFound, so an outsider cannot probe which slugs exist.
"""
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.exceptions import NotFound, PermissionDenied

from .models import Membership, Project

Role = Membership.Role
STAFF_ROLES = frozenset({Role.EXPERT, Role.ADMIN})


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: str
    senior: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff_role(self) -> bool:
        """Experts and admins see every de-identified image of the project."""
        return self.role in STAFF_ROLES


def get_project_access(user: AbstractBaseUser, slug: str) -> ProjectAccess:
    membership = (
        Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound("No such project.")
    return ProjectAccess(project=membership.project, role=membership.role, senior=membership.senior)


def get_project_for_admin(user: AbstractBaseUser, slug: str) -> ProjectAccess:
    access = get_project_access(user, slug)
    if not access.is_admin:
        raise PermissionDenied("Only project admins may do this.")
    return access
