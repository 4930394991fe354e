from django.contrib import admin

from .models import Export, ExportFile


class ExportFileInline(admin.TabularInline):
    model = ExportFile
    extra = 0
    can_delete = False
    readonly_fields = ["name", "kind", "content_type", "size", "sha256"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """Read-only: an export never changes once built (a new export is a new version)."""

    list_display = ["project", "version", "status", "requested_by", "requested_at", "item_count"]
    list_filter = ["status"]
    inlines = [ExportFileInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
