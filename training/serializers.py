from rest_framework import serializers

from .models import ModelSpec, ModelVersion, Prediction, TrainingRun


class ModelSpecInput(serializers.Serializer):
    stage = serializers.IntegerField(help_text="A label stage of the project")
    field = serializers.CharField(max_length=64, help_text="The schema field the model predicts")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    size = serializers.IntegerField(min_value=16, max_value=512, default=64, help_text="Input grid, pixels")
    strategy = serializers.ChoiceField(choices=ModelSpec.Strategy.choices, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=10_000, default=20)
    retrain_every = serializers.IntegerField(min_value=1, max_value=1_000_000, default=50)
    retrain_hours = serializers.FloatField(min_value=0, max_value=24 * 365, default=0)
    epochs = serializers.IntegerField(min_value=1, max_value=1000, default=40)
    train_layers = serializers.ChoiceField(choices=["auto", "all", "head"], default="auto")
    start_from = serializers.IntegerField(required=False, help_text="A model version (of any project you administer) "
                                                                    "to start from")


class ModelSpecSettingsInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    strategy = serializers.ChoiceField(choices=ModelSpec.Strategy.choices, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    retrain_every = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    retrain_hours = serializers.FloatField(min_value=0, max_value=24 * 365, required=False)
    epochs = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    train_layers = serializers.ChoiceField(choices=["auto", "all", "head"], required=False)


class RunInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TrainingRun.Kind.choices, default=TrainingRun.Kind.TRAIN)


class TrainingRunOutput(serializers.ModelSerializer):
    model = serializers.IntegerField(source="spec_id")
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    version = serializers.IntegerField(source="version.number", default=None)

    class Meta:
        model = TrainingRun
        fields = ["id", "model", "kind", "status", "trigger", "requested_by", "requested_at", "started_at",
                  "finished_at", "progress", "stage_of_work", "cancel_requested", "device", "labels_used", "version",
                  "error"]


class ModelVersionOutput(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent_id", default=None)

    class Meta:
        model = ModelVersion
        fields = ["id", "number", "kind", "parent", "sha256", "size", "labels_used", "metrics", "history", "created_at"]


class ModelSpecOutput(serializers.ModelSerializer):
    stage = serializers.IntegerField(source="stage_id")
    versions = ModelVersionOutput(many=True, read_only=True)
    start_from = serializers.IntegerField(source="start_from_id", default=None)
    has_checkpoint = serializers.SerializerMethodField()

    class Meta:
        model = ModelSpec
        fields = ["id", "name", "stage", "field", "task", "labels", "network", "strategy", "batch_size",
                  "retrain_every", "retrain_hours", "epochs", "train_layers", "start_from", "has_checkpoint",
                  "created_at", "versions"]

    def get_has_checkpoint(self, spec: ModelSpec) -> bool:
        return bool(spec.checkpoint)


class PredictionOutput(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = Prediction
        fields = ["item", "version", "value", "probability", "probabilities", "uncertainty", "created_at"]
