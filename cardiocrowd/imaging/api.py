from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardiocrowd.accounts.access import get_project_access, get_project_for_admin

from . import services
from .access import visible_instances
from .models import DicomWebSource, ImportJob, SourceMapping
from .serializers import (
    DicomWebImportInput,
    DicomWebSourceSerializer,
    FolderImportInput,
    ImportJobOutput,
    SourceMappingOutput,
)


def job_rows(jobs):
    return services.with_progress(jobs).select_related("created_by").prefetch_related("chunks__problems")


def accepted(**job_fields) -> Response:
    """Record the job, queue it once committed, and answer 202 with the job to poll."""
    with transaction.atomic():
        job = services.create_import_job(**job_fields)
    return Response(ImportJobOutput(job_rows(ImportJob.objects.filter(pk=job.pk)).get()).data,
                    status=status.HTTP_202_ACCEPTED)


class UploadImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
        responses={202: ImportJobOutput}, summary="Upload Part-10 files or zips of them")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        size = int(request.META.get("CONTENT_LENGTH") or 0)
        if size > settings.CARDIOCROWD_MAX_UPLOAD_BYTES:
            return Response({"detail": f"upload of {size} bytes exceeds the limit of "
                                       f"{settings.CARDIOCROWD_MAX_UPLOAD_BYTES} bytes"},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        files = request.FILES.getlist("files")
        if not files:
            raise ValidationError({"files": "Attach one or more DICOM files or zips as 'files'."})
        staging, problems = services.stage_upload(files=[(f.name, f) for f in files])
        if problems:
            return Response({"detail": "Upload refused: nothing was stored.", "problems": problems},
                            status=status.HTTP_400_BAD_REQUEST)
        return accepted(project=access.project, kind=ImportJob.Kind.UPLOAD, parameters={"staging": str(staging)},
                        user=request.user)


class FolderImportView(APIView):
    @extend_schema(request=FolderImportInput, responses={202: ImportJobOutput}, summary="Import a server folder")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = FolderImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            paths = [str(services.check_import_folder(path)) for path in data.validated_data["paths"]]
        except services.ImportNotAllowed as error:
            raise ValidationError({"paths": [str(error)]}) from None
        return accepted(project=access.project, kind=ImportJob.Kind.FOLDER, parameters={"paths": paths},
                        user=request.user)


class DicomWebImportView(APIView):
    @extend_schema(request=DicomWebImportInput, responses={202: ImportJobOutput},
                   summary="Pull studies from a DICOMweb server by UID or QIDO-RS query")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = DicomWebImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        parameters = {"study_uids": data.validated_data["study_uids"], "query": data.validated_data.get("query")}
        if name := data.validated_data.get("source"):
            parameters["source_id"] = get_object_or_404(DicomWebSource, project=access.project, name=name).pk
        else:
            parameters["url"] = data.validated_data["url"]
        return accepted(project=access.project, kind=ImportJob.Kind.DICOMWEB, parameters=parameters,
                        user=request.user)


class ImportJobListView(APIView):
    @extend_schema(responses={200: ImportJobOutput(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        return Response(ImportJobOutput(job_rows(access.project.import_jobs.order_by("-pk"))[:100], many=True).data)


class ImportJobDetailView(APIView):
    @extend_schema(responses={200: ImportJobOutput}, summary="An import job's progress and problems")
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        return Response(ImportJobOutput(get_object_or_404(job_rows(access.project.import_jobs), pk=job_id)).data)


class DicomWebSourceListView(APIView):
    @extend_schema(responses={200: DicomWebSourceSerializer(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        return Response(DicomWebSourceSerializer(access.project.dicomweb_sources.order_by("name"), many=True).data)

    @extend_schema(request=DicomWebSourceSerializer, responses={201: DicomWebSourceSerializer})
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = DicomWebSourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = DicomWebSource.objects.create(project=access.project, **data.validated_data)
        return Response(DicomWebSourceSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceMappingListView(APIView):
    @extend_schema(responses={200: SourceMappingOutput(many=True)},
                   summary="Pseudonym → source identifiers (admins only: holds PHI)")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        mappings = SourceMapping.objects.filter(project=access.project).order_by("kind", "pk")
        if pseudonym := request.query_params.get("pseudonym"):
            mappings = mappings.filter(pseudonym=pseudonym)
        return Response(SourceMappingOutput(mappings[:1000], many=True).data)


class StudySummaryOutput(serializers.Serializer):
    study_uid = serializers.CharField()
    patient_pseudonym = serializers.CharField()
    study_date = serializers.CharField()
    series_count = serializers.IntegerField()
    instance_count = serializers.IntegerField()
    quarantined_count = serializers.IntegerField()


class StudyListView(APIView):
    @extend_schema(responses={200: StudySummaryOutput(many=True)}, summary="Studies this member may see")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        rows = (visible_instances(access, request.user)
                .values("series__study__study_uid", "series__study__patient_pseudonym", "series__study__study_date")
                .annotate(series_count=Count("series", distinct=True), instance_count=Count("pk"),
                          quarantined_count=Count("pk", filter=Q(status="quarantined")))
                .order_by("series__study__study_uid"))
        return Response([{"study_uid": row["series__study__study_uid"],
                          "patient_pseudonym": row["series__study__patient_pseudonym"],
                          "study_date": row["series__study__study_date"], "series_count": row["series_count"],
                          "instance_count": row["instance_count"], "quarantined_count": row["quarantined_count"]}
                         for row in rows])
