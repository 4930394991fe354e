from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from PIL import Image, UnidentifiedImageError
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardiocrowd.accounts.access import ProjectAccess, get_project_access, get_project_for_admin

from . import assignment as assignments
from . import design, observer_agreement, quality, selectors
from .access import (
    get_stage,
    get_stage_and_access,
    get_stage_to_review,
    get_stage_to_work,
)
from .models import AuditEvent, GoldAnswer, InstructionImage, Item, LabelSchema, WorkerQuality
from .routing import RoutingError
from .schema import AnswerError, SchemaError
from .serializers import (
    AnswerInput,
    AnswerOutput,
    AuditEventOutput,
    CloneInput,
    InstructionImageOutput,
    KnownAnswerInput,
    KnownAnswerOutput,
    LabelSchemaInput,
    LabelSchemaOutput,
    NextTaskInput,
    PipelineSettingsSerializer,
    PipelineTemplateInput,
    RoutingInput,
    StageAdminOutput,
    StageInput,
    StageItemsInput,
    StageOutput,
    StageSettingsInput,
    UnblockInput,
    WorkerQualityOutput,
)
from .templates import PIPELINES, TEMPLATES

INSTRUCTION_IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
MAX_INSTRUCTION_IMAGE_BYTES = 5 * 1024 * 1024


@contextmanager
def refused_design() -> Iterator[None]:
    """A design or answer that does not hold together becomes a 400 naming what is wrong."""
    try:
        yield
    except RoutingError as error:
        raise ValidationError({"routing": {str(error.rule): [error.message]}}) from None
    except design.DesignError as error:
        raise ValidationError({error.field: [error.message]}) from None
    except SchemaError as error:
        raise ValidationError({"definition": {error.field: [error.message]}}) from None
    except AnswerError as error:
        if error.field == "verdict":
            raise ValidationError({"verdict": [error.message]}) from None
        raise ValidationError({"value": {error.field: [error.message]}}) from None


def stage_output(access: ProjectAccess) -> type[StageOutput]:
    """Admins see a stage's consensus settings; workers see only what they work with."""
    return StageAdminOutput if access.is_admin else StageOutput


class TemplateListView(APIView):
    @extend_schema(responses={200: dict}, summary="Built-in label schema templates")
    def get(self, request: Request) -> Response:
        return Response([{"key": key, **template} for key, template in TEMPLATES.items()])


class PipelineTemplateListView(APIView):
    @extend_schema(responses={200: dict}, summary="Built-in whole-pipeline templates")
    def get(self, request: Request) -> Response:
        return Response([{"key": key, **template} for key, template in PIPELINES.items()])


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
        with refused_design():
            schema = design.save_schema_version(project=access.project, name=data.validated_data["name"],
                                                definition=definition, user=request.user)
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
        return Response(stage_output(access)(stages, many=True).data)

    @extend_schema(request=StageInput, responses={201: StageAdminOutput}, summary="Add a stage at the end (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = StageInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        schema_name = fields.pop("schema", None)
        schema = None
        if schema_name:
            schema = selectors.latest_schemas(access.project).filter(name=schema_name).first()
            if schema is None:
                raise ValidationError({"schema": ["no schema of that name in this project"]})
        with refused_design():
            stage = design.append_stage(project=access.project, schema=schema, design=design.StageDesign(**fields),
                                        user=request.user)
        return Response(StageAdminOutput(stage).data, status=status.HTTP_201_CREATED)


class StageDetailView(APIView):
    @extend_schema(responses={200: StageOutput}, summary="One stage")
    def get(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_access(request.user, slug)
        return Response(stage_output(access)(get_stage(access, stage_id)).data)

    @extend_schema(request=StageSettingsInput, responses={200: StageAdminOutput},
                   summary="Tune a stage: redundancy, confidence target, gold rates, qualification, lease, "
                           "consensus method (admins)")
    def patch(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        data = StageSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        with refused_design():
            stage = design.tune_stage(stage=stage, changes=data.validated_data, user=request.user)
        return Response(StageAdminOutput(stage).data)


class PipelineFromTemplateView(APIView):
    @extend_schema(request=PipelineTemplateInput, responses={201: StageAdminOutput(many=True)},
                   summary="Build the whole pipeline from a built-in template (admins; project without stages)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = PipelineTemplateInput(data=request.data)
        data.is_valid(raise_exception=True)
        with refused_design():
            stages = design.apply_pipeline_template(project=access.project, key=data.validated_data["template"],
                                                    user=request.user)
        return Response(StageAdminOutput(stages, many=True).data, status=status.HTTP_201_CREATED)


class StageRoutingView(APIView):
    @extend_schema(request=RoutingInput, responses={200: StageAdminOutput},
                   summary="Replace a stage's routing (admins)")
    def put(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        data = RoutingInput(data=request.data)
        data.is_valid(raise_exception=True)
        with refused_design():
            stage = design.set_routing(stage=stage, routing=data.validated_data["routing"], user=request.user)
        return Response(StageAdminOutput(stage).data)


class StageItemsView(APIView):
    @extend_schema(request=StageItemsInput, responses={201: dict}, summary="Queue series in a stage (admins)")
    def post(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        data = StageItemsInput(data=request.data)
        data.is_valid(raise_exception=True)
        queued = design.queue_series(stage=stage, series_uids=data.validated_data.get("series_uids"))
        return Response({"queued": queued}, status=status.HTTP_201_CREATED)


class KnownAnswerListView(APIView):
    @extend_schema(responses={200: KnownAnswerOutput(many=True)},
                   summary="A stage's gold and qualification items with their answers (admins)")
    def get(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        gold = (GoldAnswer.objects.filter(task__stage=stage)
                .select_related("task__item__series", "schema", "created_by").order_by("pk"))
        return Response(KnownAnswerOutput(gold, many=True).data)

    @extend_schema(request=KnownAnswerInput, responses={201: KnownAnswerOutput},
                   summary="Make a series a gold or qualification item of a label stage (admins)")
    def post(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        data = KnownAnswerInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        with refused_design():
            gold = design.add_known_answer(
                stage=stage, series_uid=fields["series_uid"], value=fields["value"], explanation=fields["explanation"],
                qualification=fields["purpose"] == "qualification", user=request.user, images_of=selectors.ItemImages)
        return Response(KnownAnswerOutput(gold).data, status=status.HTTP_201_CREATED)


class NextTaskView(APIView):
    @extend_schema(request=NextTaskInput, responses={200: dict, 204: None, 403: dict},
                   summary="Lease the next task of a stage (204 when none is left for you; 403 with the reason "
                           "when you may not work here); with `after`, the task after the one you hold")
    def post(self, request: Request, slug: str, stage_id: int) -> Response:
        _, stage = get_stage_and_access(request.user, slug, stage_id)
        data = NextTaskInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            assignment = assignments.claim_next_task(stage=stage, worker=request.user,
                                                     after=data.validated_data.get("after"))
        except assignments.NoTaskAvailable:
            return Response(status=status.HTTP_204_NO_CONTENT)
        except assignments.WorkerBlocked as error:
            raise PermissionDenied(str(error)) from None
        return Response(selectors.task_payload(assignment, stage, request.build_absolute_uri(f"/dicomweb/{slug}")))


class AnswerView(APIView):
    @extend_schema(request=AnswerInput, responses={201: AnswerOutput, 200: AnswerOutput},
                   summary="Answer, skip with a reason, or (review stages) give a verdict on a task you hold; "
                           "a retry returns the first answer. Qualification answers come back with feedback.")
    def post(self, request: Request, assignment_id: int) -> Response:
        data = AnswerInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            with refused_design():
                submission = assignments.submit_for_worker(
                    assignment_id=assignment_id, worker_id=request.user.pk, value=fields["value"],
                    skip_reason=fields["skip_reason"], verdict=fields["verdict"], note=fields["note"],
                    from_prelabel=fields["from_prelabel"], images_of=selectors.ItemImages)
        except assignments.NotYourAssignment:
            raise NotFound("No such assignment.") from None
        except assignments.AssignmentClosed:
            return Response({"detail": "This assignment's lease has ended; ask for the next task."},
                            status=status.HTTP_409_CONFLICT)
        except assignments.NothingToAccept as error:
            return Response({"detail": str(error), "reason": error.reason}, status=status.HTTP_409_CONFLICT)
        body = AnswerOutput(submission.answer).data
        if submission.feedback is not None:
            body["feedback"] = submission.feedback
        return Response(body, status=status.HTTP_201_CREATED if submission.created else status.HTTP_200_OK)


class MyStandingView(APIView):
    @extend_schema(responses={200: dict}, summary="Your qualification, gold record, any block, and your recent "
                                                   "answers in a stage")
    def get(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_access(request.user, slug)
        stage = get_stage_to_work(access, stage_id)
        standing = WorkerQuality.objects.filter(stage=stage, worker=request.user).first()
        return Response({
            **selectors.worker_history(stage, request.user),
            "requires_qualification": stage.requires_qualification,
            "qualification_items": stage.tasks.filter(kind="qualification").count(),
            "qualification": standing.qualification if standing else WorkerQuality.Qualification.NOT_STARTED,
            "qualification_answered": standing.qualification_answered if standing else 0,
            "qualification_correct": standing.qualification_correct if standing else 0,
            "reliability": standing.reliability if standing else None,
            "blocked_reason": standing.blocked_reason if standing else "",
        })


class WorkerQualityListView(APIView):
    @extend_schema(responses={200: WorkerQualityOutput(many=True)},
                   summary="Every worker's qualification, reliability and block, per stage (admins)")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        rows = (WorkerQuality.objects.filter(stage__project=access.project).select_related("worker")
                .order_by("stage__position", "worker__username"))
        return Response(WorkerQualityOutput(rows, many=True).data)


class UnblockWorkerView(APIView):
    @extend_schema(request=UnblockInput, responses={200: WorkerQualityOutput},
                   summary="Let a blocked worker work in a stage again (admins)")
    def post(self, request: Request, slug: str, stage_id: int, username: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        stage = get_stage(access, stage_id)
        worker = get_object_or_404(get_user_model(), username=username, memberships__project=access.project)
        data = UnblockInput(data=request.data)
        data.is_valid(raise_exception=True)
        standing = quality.unblock(stage=stage, worker=worker, by=request.user,
                                   pass_qualification=data.validated_data["pass_qualification"])
        return Response(WorkerQualityOutput(standing).data)


class ReviewQueueView(APIView):
    @extend_schema(responses={200: dict}, summary="Items waiting in a review stage (experts and admins)")
    def get(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_access(request.user, slug)
        stage = get_stage_to_review(access, stage_id)
        tasks = selectors.review_queue(stage)[:500]
        return Response([{
            "task": task.pk, "item": task.item_id, "round": task.round, "priority": task.priority,
            "series_uid": task.item.series.series_uid if task.item.series_id else None,
            "answers": task.answer_count, "of": task.target_answers, "open_slots": task.open_slots,
            "from_stage": task.source_task.stage.name if task.source_task else None,
            "confidence": getattr(getattr(task.source_task, "consensus", None), "confidence", None),
        } for task in tasks])


class StageAgreementView(APIView):
    @extend_schema(responses={200: dict}, summary="Inter-observer agreement of a label stage, per field: kappa, "
                   "alpha, Dice; crowd vs expert and expert vs expert (experts, admins)")
    def get(self, request: Request, slug: str, stage_id: int) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such stage.")
        stage = get_stage(access, stage_id)
        try:
            return Response(observer_agreement.stage_agreement(stage))
        except ValueError as error:
            raise ValidationError({"stage": [str(error)]}) from None


class ItemHistoryView(APIView):
    @extend_schema(responses={200: dict}, summary="An item's history: answers, reviews, routing (experts, admins)")
    def get(self, request: Request, slug: str, item_id: int) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such item.")
        item = get_object_or_404(Item.objects.select_related("series"), project=access.project, pk=item_id)
        return Response(selectors.item_history(item))


def _row_id(text: str) -> int:
    """A whole number a bigint column can compare with (ValueError otherwise)."""
    value = int(text)
    if not -2**63 <= value < 2**63:
        raise ValueError(text)
    return value


class AuditListView(APIView):
    @extend_schema(responses={200: AuditEventOutput(many=True)}, summary="The project's audit trail, newest first "
                   "(admins)", parameters=[OpenApiParameter("item", int), OpenApiParameter("action", str),
                                           OpenApiParameter("before", int, description="events with a smaller id"),
                                           OpenApiParameter("limit", int)])
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        events = AuditEvent.objects.filter(project=access.project).select_related("actor", "schema")
        try:
            if request.query_params.get("item"):
                events = events.filter(item_id=_row_id(request.query_params["item"]))
            if request.query_params.get("before"):
                events = events.filter(pk__lt=_row_id(request.query_params["before"]))
            limit = int(request.query_params.get("limit", 100))
            if not 1 <= limit <= 1000:
                raise ValueError
        except (ValueError, OverflowError):
            raise ValidationError({"detail": ["item and before are whole numbers, limit one from 1 to 1000"]}) from None
        if action := request.query_params.get("action"):
            if "\x00" in action:
                raise ValidationError({"detail": ["action contains a NUL character"]})
            events = events.filter(action=action)
        return Response(AuditEventOutput(events.order_by("-pk")[:limit], many=True).data)


class SettingsView(APIView):
    @extend_schema(responses={200: PipelineSettingsSerializer},
                   summary="Instructions and worker-quality rules (every member reads them)")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        return Response(PipelineSettingsSerializer(quality.pipeline_settings(access.project.pk)).data)

    @extend_schema(request=PipelineSettingsSerializer, responses={200: PipelineSettingsSerializer},
                   summary="Change instructions and worker-quality rules (admins)")
    def patch(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = PipelineSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = design.save_settings(project=access.project, changes=data.validated_data, user=request.user)
        return Response(PipelineSettingsSerializer(saved).data)


class InstructionImageListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(responses={200: InstructionImageOutput(many=True)}, summary="Example images of the instructions")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        images = access.project.instruction_images.select_related("project").defer("data").order_by("pk")
        return Response(InstructionImageOutput(images, many=True).data)

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"}, "caption": {"type": "string"}}}},
        responses={201: InstructionImageOutput}, summary="Upload an example image, PNG or JPEG (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        upload = request.FILES.get("image")
        if upload is None:
            raise ValidationError({"image": ["attach a PNG or JPEG file as 'image'"]})
        if upload.size > MAX_INSTRUCTION_IMAGE_BYTES:
            raise ValidationError({"image": [f"{upload.name} is over {MAX_INSTRUCTION_IMAGE_BYTES // 2**20} MiB"]})
        data = upload.read()
        try:
            with Image.open(upload) as image:
                image.verify()
                content_type = INSTRUCTION_IMAGE_TYPES.get(image.format)
        except (UnidentifiedImageError, OSError, SyntaxError):
            content_type = None
        if content_type is None:
            raise ValidationError({"image": [f"{upload.name} is not a PNG or JPEG image"]})
        image = design.add_instruction_image(project=access.project, data=data, content_type=content_type,
                                             caption=request.data.get("caption", "")[:200], user=request.user)
        return Response(InstructionImageOutput(image).data, status=status.HTTP_201_CREATED)


class InstructionImageView(APIView):
    @extend_schema(responses={(200, "image/png"): bytes}, summary="One example image of the instructions")
    def get(self, request: Request, slug: str, image_id: int) -> HttpResponse:
        access = get_project_access(request.user, slug)
        image = get_object_or_404(InstructionImage, project=access.project, pk=image_id)
        return HttpResponse(bytes(image.data), content_type=image.content_type,
                            headers={"Cache-Control": "private, max-age=3600"})


class CloneProjectView(APIView):
    @extend_schema(request=CloneInput, responses={201: dict},
                   summary="Copy a project's design (schemas, stages, routing, rules) into a new project (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        if not request.user.is_staff:
            raise PermissionDenied("Only platform staff may create projects.")
        data = CloneInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = design.clone_project(source=access.project, user=request.user, **data.validated_data)
        return Response({"slug": project.slug, "name": project.name}, status=status.HTTP_201_CREATED)


class ProjectDashboardView(APIView):
    @extend_schema(responses={200: dict}, summary="Progress, throughput and consensus confidence per stage, and the "
                                                  "project's items by status (admins)")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        return Response(selectors.project_dashboard(access.project))
