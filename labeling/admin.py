from django.contrib import admin

from .models import Assignment, Item, LabelSchema

admin.site.register(Item)
admin.site.register(Assignment)


@admin.register(LabelSchema)
class LabelSchemaAdmin(admin.ModelAdmin):
    """Read-only: a schema version never changes once saved (answers name the exact version they
    were given against, and processes keep the versions they have read)."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False
