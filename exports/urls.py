from django.urls import path

from . import api

EXPORTS = "projects/<slug:slug>/exports/"

urlpatterns = [
    path(EXPORTS, api.ExportListView.as_view(), name="export-list"),
    path(EXPORTS + "<int:version>/", api.ExportDetailView.as_view(), name="export-detail"),
    path(EXPORTS + "<int:version>/files/<str:name>", api.ExportFileView.as_view(), name="export-file"),
]
