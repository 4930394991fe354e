from rest_framework import serializers

from .models import Export, ExportFile


def file_url(export: Export, name: str) -> str:
    return f"/api/projects/{export.project.slug}/exports/{export.version}/files/{name}"


class ExportFileOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    def get_url(self, export_file: ExportFile) -> str:
        return file_url(self.context["export"], export_file.name)

    class Meta:
        model = ExportFile
        fields = ["name", "kind", "content_type", "size", "sha256", "url"]


class ExportOutput(serializers.ModelSerializer):
    """Needs an export from selectors.project_exports (project, requester and files loaded)."""

    requested_by = serializers.CharField(source="requested_by.username", default=None)
    url = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()

    def get_url(self, export: Export) -> str:
        return f"/api/projects/{export.project.slug}/exports/{export.version}/"

    def get_files(self, export: Export) -> list[dict]:
        return ExportFileOutput(export.files.all(), many=True, context={"export": export}).data

    class Meta:
        model = Export
        fields = ["id", "version", "status", "requested_by", "requested_at", "started_at", "finished_at", "error",
                  "item_count", "accepted_count", "rejected_count", "url", "files"]
