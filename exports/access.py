"""How a view gets an export or one of its files: experts and admins of the project only. A
missing export or file and one not (yet) ready give the same NotFound."""
from django.contrib.auth.models import AbstractBaseUser
from rest_framework.exceptions import NotFound, PermissionDenied

from cardiocrowd.accounts.access import ProjectAccess, get_project_access

from .models import Export, ExportFile
from .selectors import project_exports


def get_project_for_experts(user: AbstractBaseUser, slug: str) -> ProjectAccess:
    """Experts and admins read exports; crowd workers never see labels other than their own."""
    access = get_project_access(user, slug)
    if not access.is_staff_role:
        raise PermissionDenied("Only the project's experts and admins may read exports.")
    return access


def get_export(access: ProjectAccess, version: int) -> Export:
    export = project_exports(access.project).filter(version=version).first()
    if export is None:
        raise NotFound("No such export.")
    return export


def get_export_file(access: ProjectAccess, version: int, name: str) -> ExportFile:
    """A recorded file of a ready export (a file is recorded only once its folder is published)."""
    export_file = (ExportFile.objects.select_related("export").filter(
        export__project=access.project, export__version=version, export__status=Export.Status.READY, name=name)
        .first())
    if export_file is None:
        raise NotFound("No such file.")
    return export_file
