from collections.abc import Iterator
from contextlib import contextmanager

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardiocrowd.accounts.access import get_project_access, get_project_for_admin

from . import selectors, services
from .access import get_assignment_for_worker, get_stage, get_stage_to_work
from .models import LabelSchema
from .routing import RoutingError
from .schema import AnswerError, SchemaError
from .serializers import (
    AnswerInput,
    AnswerOutput,
    CloneInput,
    LabelSchemaInput,
    LabelSchemaOutput,
    RoutingInput,
    StageInput,
    StageItemsInput,
    StageOutput,
)
from .templates import TEMPLATES


@contextmanager
def refused_routing() -> Iterator[None]:
    """Malformed routing rules become a 400 naming the rule."""
    try:
        yield
    except RoutingError as error:
        raise ValidationError({"routing": {str(error.rule): [error.message]}}) from None


class TemplateListView(APIView):
    @extend_schema(responses={200: dict}, summary="Built-in label schema templates")
    def get(self, request: Request) -> Response:
        return Response([{"key": key, **template} for key, template in TEMPLATES.items()])


class SchemaListView(APIView):
    @extend_schema(responses={200: LabelSchemaOutput(many=True)}, summary="Newest version of each schema")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        return Response(LabelSchemaOutput(selectors.latest_schemas(access.project), many=True).data)

    @extend_schema(request=LabelSchemaInput, responses={201: LabelSchemaOutput},
                   summary="Save a new version of a schema (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = LabelSchemaInput(data=request.data)
        data.is_valid(raise_exception=True)
        template = data.validated_data.get("template")
        if template and template not in TEMPLATES:
            raise ValidationError({"template": [f"no template {template!r}; one of {', '.join(TEMPLATES)}"]})
        definition = TEMPLATES[template]["schema"] if template else data.validated_data["definition"]
        try:
            schema = services.save_schema_version(project=access.project, name=data.validated_data["name"],
                                                  definition=definition, user=request.user)
        except SchemaError as error:
            raise ValidationError({"definition": {error.field: [error.message]}}) from None
        return Response(LabelSchemaOutput(schema).data, status=status.HTTP_201_CREATED)


class SchemaVersionListView(APIView):
    @extend_schema(responses={200: LabelSchemaOutput(many=True)}, summary="Every version of one schema")
    def get(self, request: Request, slug: str, name: str) -> Response:
        access = get_project_access(request.user, slug)
        versions = LabelSchema.objects.filter(project=access.project, name=name).select_related("created_by")
        get_object_or_404(versions[:1])
        return Response(LabelSchemaOutput(versions.order_by("version"), many=True).data)


class StageListView(APIView):
    @extend_schema(responses={200: StageOutput(many=True)}, summary="The project's pipeline, in order")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        stages = access.project.stages.select_related("schema").order_by("position")
        return Response(StageOutput(stages, many=True).data)

    @extend_schema(request=StageInput, responses={201: StageOutput}, summary="Add a stage at the end (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = StageInput(data=request.data)
        data.is_valid(raise_exception=True)
        schema = selectors.latest_schemas(access.project).filter(name=data.validated_data.pop("schema")).first()
        if schema is None:
            raise ValidationError({"schema": ["no schema of that name in this project"]})
        with refused_routing():
            stage = services.append_stage(project=access.project, schema=schema, **data.validated_data)
        return Response(StageOutput(stage).data, status=status.HTTP_201_CREATED)


class StageRoutingView(APIView):
    @extend_schema(request=RoutingInput, responses={200: StageOutput}, summary="Replace a stage's routing (admins)")
    def put(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        data = RoutingInput(data=request.data)
        data.is_valid(raise_exception=True)
        with refused_routing():
            stage = services.set_routing(stage=stage, routing=data.validated_data["routing"])
        return Response(StageOutput(stage).data)


class StageItemsView(APIView):
    @extend_schema(request=StageItemsInput, responses={201: dict}, summary="Queue series in a stage (admins)")
    def post(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        data = StageItemsInput(data=request.data)
        data.is_valid(raise_exception=True)
        queued = services.queue_series(stage=stage, series_uids=data.validated_data.get("series_uids"))
        return Response({"queued": queued}, status=status.HTTP_201_CREATED)


class NextTaskView(APIView):
    @extend_schema(request=None, responses={200: dict, 204: None},
                   summary="Lease the next task of a stage (204 when none is left for you)")
    def post(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_access(request.user, slug)
        stage = get_stage_to_work(access, stage_id)
        try:
            assignment = services.claim_next_task(stage=stage, worker=request.user)
        except services.NoTaskAvailable:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(selectors.task_payload(assignment, stage, request.build_absolute_uri(f"/dicomweb/{slug}")))


class AnswerView(APIView):
    @extend_schema(request=AnswerInput, responses={201: AnswerOutput, 200: AnswerOutput},
                   summary="Answer (or skip with a reason) a task you hold; a retry returns the first answer")
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = get_assignment_for_worker(request.user, assignment_id)
        data = AnswerInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            answer, created = services.submit_answer(
                assignment=assignment, value=data.validated_data["value"],
                skip_reason=data.validated_data["skip_reason"], image=selectors.item_geometry(assignment.item))
        except AnswerError as error:
            raise ValidationError({"value": {error.field: [error.message]}}) from None
        except services.AssignmentClosed:
            return Response({"detail": "This assignment's lease has ended; ask for the next task."},
                            status=status.HTTP_409_CONFLICT)
        return Response(AnswerOutput(answer).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CloneProjectView(APIView):
    @extend_schema(request=CloneInput, responses={201: dict},
                   summary="Copy a project's design (schemas, stages, routing) into a new project (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        if not request.user.is_staff:
            raise PermissionDenied("Only platform staff may create projects.")
        data = CloneInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.clone_project(source=access.project, user=request.user, **data.validated_data)
        return Response({"slug": project.slug, "name": project.name}, status=status.HTTP_201_CREATED)
