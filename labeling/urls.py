from django.urls import path

from . import api

urlpatterns = [
    path("templates/", api.TemplateListView.as_view(), name="schema-templates"),
    path("projects/<slug:slug>/schemas/", api.SchemaListView.as_view(), name="schema-list"),
    path("projects/<slug:slug>/schemas/<slug:name>/versions/", api.SchemaVersionListView.as_view(),
         name="schema-versions"),
    path("projects/<slug:slug>/stages/", api.StageListView.as_view(), name="stage-list"),
    path("projects/<slug:slug>/stages/<int:stage_id>/items/", api.StageItemsView.as_view(), name="stage-items"),
    path("projects/<slug:slug>/stages/<int:stage_id>/next/", api.NextTaskView.as_view(), name="next-task"),
    path("projects/<slug:slug>/stages/<int:stage_id>/routing/", api.StageRoutingView.as_view(), name="stage-routing"),
    path("projects/<slug:slug>/clone/", api.CloneProjectView.as_view(), name="project-clone"),
    path("assignments/<int:assignment_id>/answer/", api.AnswerView.as_view(), name="answer"),
]
