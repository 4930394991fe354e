from django.urls import path

from . import api

PROJECT = "projects/<slug:slug>/"
STAGE = PROJECT + "stages/<int:stage_id>/"

urlpatterns = [
    path("templates/", api.TemplateListView.as_view(), name="schema-templates"),
    path("pipeline-templates/", api.PipelineTemplateListView.as_view(), name="pipeline-templates"),
    path(PROJECT + "schemas/", api.SchemaListView.as_view(), name="schema-list"),
    path(PROJECT + "schemas/<slug:name>/versions/", api.SchemaVersionListView.as_view(), name="schema-versions"),
    path(PROJECT + "pipeline/", api.PipelineFromTemplateView.as_view(), name="pipeline-from-template"),
    path(PROJECT + "stages/", api.StageListView.as_view(), name="stage-list"),
    path(STAGE, api.StageDetailView.as_view(), name="stage-detail"),
    path(STAGE + "items/", api.StageItemsView.as_view(), name="stage-items"),
    path(STAGE + "gold/", api.KnownAnswerListView.as_view(), name="stage-gold"),
    path(STAGE + "next/", api.NextTaskView.as_view(), name="next-task"),
    path(STAGE + "me/", api.MyStandingView.as_view(), name="stage-standing"),
    path(STAGE + "queue/", api.ReviewQueueView.as_view(), name="review-queue"),
    path(STAGE + "agreement/", api.StageAgreementView.as_view(), name="stage-agreement"),
    path(STAGE + "routing/", api.StageRoutingView.as_view(), name="stage-routing"),
    path(STAGE + "workers/<str:username>/unblock/", api.UnblockWorkerView.as_view(), name="worker-unblock"),
    path(PROJECT + "workers/", api.WorkerQualityListView.as_view(), name="worker-quality"),
    path(PROJECT + "items/<int:item_id>/", api.ItemHistoryView.as_view(), name="item-history"),
    path(PROJECT + "audit/", api.AuditListView.as_view(), name="audit"),
    path(PROJECT + "dashboard/", api.ProjectDashboardView.as_view(), name="project-dashboard"),
    path(PROJECT + "settings/", api.SettingsView.as_view(), name="pipeline-settings"),
    path(PROJECT + "instructions/images/", api.InstructionImageListView.as_view(), name="instruction-images"),
    path(PROJECT + "instructions/images/<int:image_id>/", api.InstructionImageView.as_view(),
         name="instruction-image"),
    path(PROJECT + "clone/", api.CloneProjectView.as_view(), name="project-clone"),
    path("assignments/<int:assignment_id>/answer/", api.AnswerView.as_view(), name="answer"),
]
