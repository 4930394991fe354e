from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from . import api

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="auth-token"),
    path("me/", api.MeView.as_view(), name="me"),
    path("projects/", api.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>/", api.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<slug:slug>/members/", api.MembershipListView.as_view(), name="project-members"),
]
