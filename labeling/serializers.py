from rest_framework import serializers

from .models import LabelSchema


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
    audience = serializers.ChoiceField(choices=["crowd", "expert"], default="crowd")
    schema = serializers.SlugField(help_text="Schema name; its newest version is used")
    redundancy = serializers.IntegerField(min_value=1, max_value=50, default=3)
    lease_seconds = serializers.IntegerField(min_value=30, max_value=7 * 24 * 3600, default=600)
    routing = serializers.ListField(child=serializers.JSONField(), default=list)


class RoutingInput(serializers.Serializer):
    routing = serializers.ListField(child=serializers.JSONField())


class StageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    audience = serializers.CharField()
    schema = serializers.CharField(source="schema.name")
    schema_version = serializers.IntegerField(source="schema.version")
    redundancy = serializers.IntegerField()
    lease_seconds = serializers.IntegerField()
    routing = serializers.ListField(child=serializers.JSONField())


class StageItemsInput(serializers.Serializer):
    series_uids = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                        help_text="Series to queue, one item each; all the project's series if absent")


class AnswerInput(serializers.Serializer):
    value = serializers.DictField(default=dict)
    skip_reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AnswerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    value = serializers.DictField()
    skip_reason = serializers.CharField()
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
