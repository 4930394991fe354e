from rest_framework import serializers

from .models import AuditEvent, LabelSchema, PipelineSettings, Stage, WorkerQuality


class LabelSchemaOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = LabelSchema
        fields = ["name", "version", "definition", "created_by", "created_at"]


class LabelSchemaInput(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    definition = serializers.DictField(required=False)
    template = serializers.CharField(required=False, help_text="Start from a built-in template instead")

    def validate(self, data: dict) -> dict:
        if bool(data.get("definition")) == bool(data.get("template")):
            raise serializers.ValidationError("Give exactly one of definition and template.")
        return data


class StageInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Stage.Kind.choices, default=Stage.Kind.LABEL)
    audience = serializers.ChoiceField(choices=Stage.Audience.choices, default=Stage.Audience.CROWD)
    schema = serializers.SlugField(required=False, help_text="Label stages: schema name (its newest version)")
    redundancy = serializers.IntegerField(min_value=1, max_value=50, default=3,
                                          help_text="Independent answers per item (minimum k)")
    max_redundancy = serializers.IntegerField(min_value=1, max_value=50, required=False,
                                              help_text="Adaptive maximum; more answers while below the target")
    confidence_target = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    gold_rate_min = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    gold_rate_max = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    requires_qualification = serializers.BooleanField(default=False)
    show_prelabels = serializers.BooleanField(default=False)
    lease_seconds = serializers.IntegerField(min_value=30, max_value=7 * 24 * 3600, default=600)
    routing = serializers.ListField(child=serializers.JSONField(), default=list)
    consensus_method = serializers.ChoiceField(choices=Stage.ConsensusMethod.choices,
                                               default=Stage.ConsensusMethod.AUTO,
                                               help_text="How whole-stage runs aggregate categories (admins only)")


class StageSettingsInput(serializers.Serializer):
    """The settings of a stage an admin may change after creating it (all optional)."""

    name = serializers.CharField(max_length=100, required=False)
    redundancy = serializers.IntegerField(min_value=1, max_value=50, required=False)
    max_redundancy = serializers.IntegerField(min_value=1, max_value=50, required=False)
    confidence_target = serializers.FloatField(min_value=0, max_value=1, required=False)
    gold_rate_min = serializers.FloatField(min_value=0, max_value=1, required=False)
    gold_rate_max = serializers.FloatField(min_value=0, max_value=1, required=False)
    requires_qualification = serializers.BooleanField(required=False)
    show_prelabels = serializers.BooleanField(required=False)
    lease_seconds = serializers.IntegerField(min_value=30, max_value=7 * 24 * 3600, required=False)
    consensus_method = serializers.ChoiceField(choices=Stage.ConsensusMethod.choices, required=False)

    def validate(self, data: dict) -> dict:
        fixed = sorted(set(self.initial_data) & {"kind", "audience", "schema", "position"})
        if fixed:
            raise serializers.ValidationError(f"{', '.join(fixed)} cannot change once a stage exists")
        return data


class RoutingInput(serializers.Serializer):
    routing = serializers.ListField(child=serializers.JSONField())


class StageOutput(serializers.ModelSerializer):
    schema = serializers.CharField(source="schema.name", default=None)
    schema_version = serializers.IntegerField(source="schema.version", default=None)

    class Meta:
        model = Stage
        fields = ["id", "name", "position", "kind", "audience", "schema", "schema_version", "redundancy",
                  "max_redundancy", "confidence_target", "gold_rate_min", "gold_rate_max", "requires_qualification",
                  "show_prelabels", "lease_seconds", "routing"]


class StageAdminOutput(StageOutput):
    """What admins see of a stage: the consensus settings crowd workers have no business with."""

    class Meta(StageOutput.Meta):
        fields = [*StageOutput.Meta.fields, "consensus_method"]


class StageItemsInput(serializers.Serializer):
    series_uids = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                        help_text="Series to queue, one item each; all the project's series if absent")


class NextTaskInput(serializers.Serializer):
    after = serializers.IntegerField(required=False, min_value=1,
                                     help_text="The assignment you are working on: lease the task after it too "
                                               "(to load its images ahead); you hold at most two")


class AnswerInput(serializers.Serializer):
    value = serializers.DictField(default=dict)
    skip_reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    verdict = serializers.ChoiceField(choices=["accept", "correct", "reject"], required=False, default="",
                                      help_text="Review and adjudication stages: the verdict; `value` is the "
                                                "correction when it is 'correct'")
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    from_prelabel = serializers.BooleanField(default=False, help_text="The worker started from the model's "
                                                                        "pre-label in the task payload")


class AnswerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.DictField()
    skip_reason = serializers.CharField()
    verdict = serializers.CharField()
    prelabel = serializers.JSONField()
    schema_version = serializers.IntegerField(source="schema.version")
    created_at = serializers.DateTimeField()


class CloneInput(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)

    def validate_slug(self, value: str) -> str:
        from cardiocrowd.accounts.models import Project

        if Project.objects.filter(slug=value).exists():
            raise serializers.ValidationError("A project with this slug exists.")
        return value


class PipelineTemplateInput(serializers.Serializer):
    template = serializers.CharField()


class KnownAnswerInput(serializers.Serializer):
    series_uid = serializers.CharField(max_length=64)
    value = serializers.DictField(help_text="The expert answer, in the stage's schema")
    explanation = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="",
                                        help_text="Shown to workers after a qualification answer")
    purpose = serializers.ChoiceField(choices=["gold", "qualification"], default="gold")


class KnownAnswerOutput(serializers.Serializer):
    task = serializers.IntegerField(source="task_id")
    series_uid = serializers.CharField(source="task.item.series.series_uid", default=None)
    purpose = serializers.CharField(source="task.kind")
    value = serializers.DictField()
    explanation = serializers.CharField()
    source = serializers.CharField()
    schema_version = serializers.IntegerField(source="schema.version")
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()


class WorkerQualityOutput(serializers.ModelSerializer):
    worker = serializers.CharField(source="worker.username")
    stage = serializers.IntegerField(source="stage_id")

    class Meta:
        model = WorkerQuality
        fields = ["worker", "stage", "qualification", "qualification_answered", "qualification_correct",
                  "gold_answered", "gold_correct", "reliability", "blocked_reason", "blocked_at", "updated_at"]


class UnblockInput(serializers.Serializer):
    pass_qualification = serializers.BooleanField(default=False)


class PipelineSettingsSerializer(serializers.ModelSerializer):
    qualification_pass_mark = serializers.FloatField(min_value=0, max_value=1, required=False)
    reliability_threshold = serializers.FloatField(min_value=0, max_value=1, required=False)

    class Meta:
        model = PipelineSettings
        fields = ["instructions", "qualification_pass_mark", "reliability_threshold", "min_gold_for_blocking"]


class InstructionImageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    caption = serializers.CharField()
    content_type = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, image) -> str:
        return f"/api/projects/{image.project.slug}/instructions/images/{image.pk}/"


class AuditEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None)
    schema = serializers.CharField(source="schema.name", default=None)
    schema_version = serializers.IntegerField(source="schema.version", default=None)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "action", "actor", "stage", "item", "task", "schema", "schema_version", "detail"]
