from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardiocrowd.accounts.access import get_project_for_admin
from cardiocrowd.imaging.dicomweb import PassThroughNegotiation

from . import selectors, services
from .access import get_export, get_export_file, get_project_for_experts
from .serializers import ExportOutput


class ExportFileUnavailable(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "The stored export file is not the one recorded; make a new export."


class ExportListView(APIView):
    @extend_schema(responses={200: ExportOutput(many=True)},
                   summary="The project's exports, newest first, with their status and files (experts and admins)")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_experts(request.user, slug)
        return Response(ExportOutput(selectors.project_exports(access.project), many=True).data)

    @extend_schema(request=None, responses={202: ExportOutput},
                   summary="Export the project's accepted and rejected items as its next version (admins); "
                           "built in the background: poll the export until it is ready or failed")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        export = services.request_export(project=access.project, user=request.user)
        return Response(ExportOutput(get_export(access, export.version)).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(responses={200: ExportOutput}, summary="One export version: status, error, files (experts and "
                                                          "admins)")
    def get(self, request: Request, slug: str, version: int) -> Response:
        access = get_project_for_experts(request.user, slug)
        return Response(ExportOutput(get_export(access, version)).data)


class ExportFileView(APIView):
    # The file is the answer whatever the client accepts; DRF renders only error bodies (as JSON).
    content_negotiation_class = PassThroughNegotiation

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
                              404: OpenApiResponse(description="No such ready export or file")},
                   summary="Download one file of a ready export, checked against its recorded sha256 "
                           "(experts and admins)")
    def get(self, request: Request, slug: str, version: int, name: str) -> FileResponse:
        access = get_project_for_experts(request.user, slug)
        export_file = get_export_file(access, version, name)
        try:
            handle = services.open_export_file(export_file)
        except services.ExportFileChanged as error:
            raise ExportFileUnavailable(str(error)) from None
        return FileResponse(handle, as_attachment=True, filename=export_file.name,
                            content_type=export_file.content_type,
                            headers={"ETag": f'"{export_file.sha256}"', "Cache-Control": "private, max-age=3600"})
