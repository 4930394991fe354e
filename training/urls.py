from django.urls import path

from . import api

PROJECT = "projects/<slug:slug>/"
MODEL = PROJECT + "models/<int:model_id>/"

urlpatterns = [
    path(PROJECT + "models/", api.ModelListView.as_view(), name="model-list"),
    path(MODEL, api.ModelDetailView.as_view(), name="model-detail"),
    path(MODEL + "runs/", api.ModelRunListView.as_view(), name="model-runs"),
    path(MODEL + "checkpoint/", api.CheckpointView.as_view(), name="model-checkpoint"),
    path(MODEL + "predictions/", api.PredictionListView.as_view(), name="model-predictions"),
    path(PROJECT + "training-runs/<int:run_id>/", api.TrainingRunView.as_view(), name="training-run"),
    path(PROJECT + "training-runs/<int:run_id>/cancel/", api.CancelRunView.as_view(), name="training-run-cancel"),
]
