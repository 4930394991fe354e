"""Writes for projects and memberships."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from .models import Membership, Project


@transaction.atomic
def create_project(*, slug: str, name: str, creator: AbstractBaseUser | None = None, **settings) -> Project:
    """Create a project; its creator becomes its first admin."""
    project = Project.objects.create(slug=slug, name=name, **settings)
    if creator is not None:
        Membership.objects.create(project=project, user=creator, role=Membership.Role.ADMIN)
    return project


@transaction.atomic
def set_membership(*, project: Project, user: AbstractBaseUser, role: str, senior: bool = False) -> Membership:
    """Give a user a role in a project, replacing any role they had. Only an expert can be senior."""
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={
        "role": role, "senior": senior and role == Membership.Role.EXPERT})
    return membership


def ensure_user(*, username: str, password: str, email: str = "") -> AbstractBaseUser:
    """Create the user if missing and (re)set their password; used by the demo loader."""
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
