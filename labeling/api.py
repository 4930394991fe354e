from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardiocrowd.accounts.access import get_project_access, get_project_for_admin

from . import selectors, services
from .models import LabelSchema
from .schema import SchemaError
from .serializers import LabelSchemaInput, LabelSchemaOutput
from .templates import TEMPLATES


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
