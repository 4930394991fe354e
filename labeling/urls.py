from django.urls import path

from . import api

urlpatterns = [
    path("templates/", api.TemplateListView.as_view(), name="schema-templates"),
    path("projects/<slug:slug>/schemas/", api.SchemaListView.as_view(), name="schema-list"),
    path("projects/<slug:slug>/schemas/<slug:name>/versions/", api.SchemaVersionListView.as_view(),
         name="schema-versions"),
]
