from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .access import get_project_access, get_project_for_admin
from .models import Membership
from .serializers import MembershipInput, MembershipOutput, ProjectInput, ProjectOutput


class MeView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        memberships = Membership.objects.filter(user=request.user).select_related("project")
        return Response({
            "username": request.user.username,
            "projects": [{"slug": m.project.slug, "name": m.project.name, "role": m.role} for m in memberships],
        })


class ProjectListView(APIView):
    @extend_schema(responses={200: ProjectOutput(many=True)})
    def get(self, request: Request) -> Response:
        memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__slug")
        projects = []
        for membership in memberships:
            membership.project.role = membership.role
            projects.append(membership.project)
        return Response(ProjectOutput(projects, many=True).data)

    @extend_schema(request=ProjectInput, responses={201: ProjectOutput})
    def post(self, request: Request) -> Response:
        if not request.user.is_staff:
            raise PermissionDenied("Only platform staff may create projects.")
        data = ProjectInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.create_project(creator=request.user, **data.validated_data)
        project.role = Membership.Role.ADMIN
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses={200: ProjectOutput})
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_access(request.user, slug)
        access.project.role = access.role
        return Response(ProjectOutput(access.project).data)


class MembershipListView(APIView):
    @extend_schema(responses={200: MembershipOutput(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        memberships = access.project.memberships.select_related("user").order_by("user__username")
        return Response(MembershipOutput(memberships, many=True).data)

    @extend_schema(request=MembershipInput, responses={200: MembershipOutput})
    def post(self, request: Request, slug: str) -> Response:
        access = get_project_for_admin(request.user, slug)
        data = MembershipInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_object_or_404(get_user_model(), username=data.validated_data["username"])
        membership = services.set_membership(project=access.project, user=user, role=data.validated_data["role"],
                                             senior=data.validated_data["senior"])
        return Response(MembershipOutput(membership).data)
