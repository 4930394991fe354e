from django.urls import path

from . import api, dicomweb

api_urlpatterns = [
    path("projects/<slug:slug>/studies/", api.StudyListView.as_view(), name="study-list"),
    path("projects/<slug:slug>/imports/", api.ImportJobListView.as_view(), name="import-list"),
    path("projects/<slug:slug>/imports/upload/", api.UploadImportView.as_view(), name="import-upload"),
    path("projects/<slug:slug>/imports/folder/", api.FolderImportView.as_view(), name="import-folder"),
    path("projects/<slug:slug>/imports/dicomweb/", api.DicomWebImportView.as_view(), name="import-dicomweb"),
    path("projects/<slug:slug>/imports/<int:job_id>/", api.ImportJobDetailView.as_view(), name="import-detail"),
    path("projects/<slug:slug>/dicomweb-sources/", api.DicomWebSourceListView.as_view(), name="dicomweb-sources"),
    path("projects/<slug:slug>/source-mappings/", api.SourceMappingListView.as_view(), name="source-mappings"),
]

_study = "studies/<str:study_uid>"
_series = f"{_study}/series/<str:series_uid>"
_instance = f"{_series}/instances/<str:sop_uid>"
dicomweb_urlpatterns = [
    path("studies", dicomweb.StudySearchView.as_view(), name="qido-studies"),
    path("series", dicomweb.SeriesSearchView.as_view(), name="qido-all-series"),
    path("instances", dicomweb.InstanceSearchView.as_view(), name="qido-all-instances"),
    path(_study, dicomweb.RetrieveView.as_view(), name="wado-study"),
    path(f"{_study}/metadata", dicomweb.MetadataView.as_view(), name="wado-study-metadata"),
    path(f"{_study}/series", dicomweb.SeriesSearchView.as_view(), name="qido-series"),
    path(f"{_study}/instances", dicomweb.InstanceSearchView.as_view(), name="qido-study-instances"),
    path(_series, dicomweb.RetrieveView.as_view(), name="wado-series"),
    path(f"{_series}/metadata", dicomweb.MetadataView.as_view(), name="wado-series-metadata"),
    path(f"{_series}/instances", dicomweb.InstanceSearchView.as_view(), name="qido-instances"),
    path(_instance, dicomweb.RetrieveView.as_view(), name="wado-instance"),
    path(f"{_instance}/metadata", dicomweb.MetadataView.as_view(), name="wado-instance-metadata"),
    path(f"{_instance}/frames/<str:frame_list>", dicomweb.FramesView.as_view(), name="wado-frames"),
    path(f"{_instance}/bulkdata/7fe00010", dicomweb.FramesView.as_view(), name="wado-pixel-bulkdata"),
]
