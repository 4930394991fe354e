from rest_framework import serializers

from .models import DicomWebSource, ImportJob, ImportProblem, SourceMapping


class ImportProblemOutput(serializers.ModelSerializer):
    class Meta:
        model = ImportProblem
        fields = ["reference", "reason"]


class ImportJobOutput(serializers.ModelSerializer):
    """Needs a job from services.with_progress, its chunks' problems prefetched."""

    created_by = serializers.CharField(source="created_by.username", default=None)
    total = serializers.IntegerField(read_only=True)
    done = serializers.IntegerField(read_only=True)
    imported = serializers.IntegerField(read_only=True)
    duplicates = serializers.IntegerField(read_only=True)
    refused = serializers.IntegerField(read_only=True)
    quarantined = serializers.IntegerField(read_only=True)
    problems = serializers.SerializerMethodField()

    def get_problems(self, job) -> list[dict]:
        return [ImportProblemOutput(problem).data for chunk in job.chunks.all() for problem in chunk.problems.all()]

    class Meta:
        model = ImportJob
        fields = ["id", "kind", "status", "parameters", "created_by", "total", "done", "imported", "duplicates",
                  "refused", "quarantined", "failure_reason", "created_at", "started_at", "finished_at", "problems"]


class FolderImportInput(serializers.Serializer):
    paths = serializers.ListField(child=serializers.CharField(), min_length=1)


class DicomWebImportInput(serializers.Serializer):
    source = serializers.CharField(required=False, help_text="Name of a configured DICOMweb source")
    url = serializers.URLField(required=False, help_text="Or a DICOMweb root URL without authentication")
    study_uids = serializers.ListField(child=serializers.CharField(max_length=64), default=list)
    query = serializers.DictField(child=serializers.CharField(), required=False,
                                  help_text="QIDO-RS study query, e.g. {\"ModalitiesInStudy\": \"US\"}")

    def validate(self, data: dict) -> dict:
        if bool(data.get("source")) == bool(data.get("url")):
            raise serializers.ValidationError("Give exactly one of source and url.")
        if not data["study_uids"] and not data.get("query"):
            raise serializers.ValidationError("Give study_uids or a query.")
        return data


class DicomWebSourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DicomWebSource
        fields = ["id", "name", "url", "auth", "username", "secret_env"]


class SourceMappingOutput(serializers.ModelSerializer):
    class Meta:
        model = SourceMapping
        fields = ["kind", "pseudonym", "source_value", "date_shift_days"]
