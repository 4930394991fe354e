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
