from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardiocrowd.accounts.access import get_project_access, get_project_for_admin
from cardiocrowd.accounts.models import Membership
from labeling.models import Stage

from . import services
from .models import ModelSpec, ModelVersion, Prediction, TrainingRun
from .serializers import (
    ModelSpecInput,
    ModelSpecOutput,
    ModelSpecSettingsInput,
    PredictionOutput,
    RunInput,
    TrainingRunOutput,
)


def _spec(access, model_id: int) -> ModelSpec:
    return get_object_or_404(ModelSpec.objects.prefetch_related("versions"), project=access.project, pk=model_id)


def _refused(error: services.ModelDesignError):
    return ValidationError({error.field: [error.message]})


class ModelListView(APIView):
    @extend_schema(responses={200: ModelSpecOutput(many=True)}, summary="The project's models (experts, admins)")
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such project.")
        specs = ModelSpec.objects.filter(project=access.project).prefetch_related("versions").order_by("pk")
        return Response(ModelSpecOutput(specs, many=True).data)

    @extend_schema(request=ModelSpecInput, responses={201: ModelSpecOutput},
                   summary="A model for a label stage's field, with its active-learning settings (admins)")
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = ModelSpecInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        stage = Stage.objects.filter(project=access.project, pk=fields.pop("stage")).select_related("schema").first()
        if stage is None:
            raise ValidationError({"stage": ["no such stage in this project"]})
        start_from = fields.pop("start_from", None)
        if start_from is not None:
            fields["start_from"] = _version_you_administer(request.user, start_from)
        if ModelSpec.objects.filter(stage=stage, field=fields["field"]).exists():
            raise ValidationError({"field": ["this stage's field has a model already"]})
        try:
            spec = services.create_spec(stage=stage, user=request.user, **fields)
        except services.ModelDesignError as error:
            raise _refused(error) from None
        return Response(ModelSpecOutput(spec).data, status=status.HTTP_201_CREATED)


def _version_you_administer(user, version_id: int) -> ModelVersion:
    version = ModelVersion.objects.filter(pk=version_id, spec__project__memberships__user=user,
                                          spec__project__memberships__role=Membership.Role.ADMIN).first()
    if version is None:
        raise ValidationError({"start_from": ["no such model version in a project you administer"]})
    return version


class ModelDetailView(APIView):
    @extend_schema(responses={200: ModelSpecOutput}, summary="A model, its versions and their metrics")
    def get(self, request: Request, slug: str, model_id: int) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such model.")
        return Response(ModelSpecOutput(_spec(access, model_id)).data)

    @extend_schema(request=ModelSpecSettingsInput, responses={200: ModelSpecOutput},
                   summary="Tune a model: strategy, batch size, retraining trigger, epochs (admins)")
    def patch(self, request: Request, slug: str, model_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        spec = _spec(access, model_id)
        data = ModelSpecSettingsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            spec = services.tune_spec(spec=spec, changes=data.validated_data)
        except services.ModelDesignError as error:
            raise _refused(error) from None
        return Response(ModelSpecOutput(spec).data)


class ModelRunListView(APIView):
    @extend_schema(responses={200: TrainingRunOutput(many=True)}, summary="A model's runs, newest first")
    def get(self, request: Request, slug: str, model_id: int) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such model.")
        runs = _spec(access, model_id).runs.select_related("requested_by", "version").order_by("-pk")[:100]
        return Response(TrainingRunOutput(runs, many=True).data)

    @extend_schema(request=RunInput, responses={202: TrainingRunOutput},
                   summary="Train (fit, score, reprioritize), pretrain (self-supervised) or rescore; runs on "
                           "the GPU queue; poll the run (admins)")
    def post(self, request: Request, slug: str, model_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = RunInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.request_run(spec=_spec(access, model_id), kind=data.validated_data["kind"], user=request.user)
        run.refresh_from_db()
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunView(APIView):
    @extend_schema(responses={200: TrainingRunOutput}, summary="A run: status and progress")
    def get(self, request: Request, slug: str, run_id: int) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such run.")
        return Response(TrainingRunOutput(get_object_or_404(TrainingRun, spec__project=access.project,
                                                            pk=run_id)).data)


class CancelRunView(APIView):
    @extend_schema(request=None, responses={200: TrainingRunOutput},
                   summary="Cancel a run: a queued one at once, a running one at its next step (admins)")
    def post(self, request: Request, slug: str, run_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        run = get_object_or_404(TrainingRun, spec__project=access.project, pk=run_id)
        return Response(TrainingRunOutput(services.cancel_run(run=run)).data)


class CheckpointView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}, responses={201: ModelSpecOutput},
        summary="Upload weights to start the model from (a state dict, e.g. a MONAI bundle's model.pt) (admins)")
    def post(self, request: Request, slug: str, model_id: int) -> Response:
        access = get_project_for_admin(request.user, slug)
        spec = _spec(access, model_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["attach the weights as 'file'"]})
        try:
            services.upload_checkpoint(spec=spec, data=upload.read(), filename=upload.name)
        except services.ModelDesignError as error:
            raise _refused(error) from None
        return Response(ModelSpecOutput(_spec(access, model_id)).data, status=status.HTTP_201_CREATED)


class PredictionListView(APIView):
    @extend_schema(responses={200: PredictionOutput(many=True)},
                   summary="What the version in force says of the items waiting, most uncertain first")
    def get(self, request: Request, slug: str, model_id: int) -> Response:
        access = get_project_access(request.user, slug)
        if not access.is_staff_role:
            raise NotFound("No such model.")
        spec = _spec(access, model_id)
        rows = Prediction.objects.filter(version__spec=spec).select_related("version").order_by("-uncertainty")[:500]
        return Response(PredictionOutput(rows, many=True).data)
