"""The audit trail: one append-only row per thing worth asking "who did this, when, and under
which schema version?" about. Answers and reviews are their own record (Answer rows name the
worker, time and schema version and are never changed); everything else is written here."""
from .models import AuditEvent


def record(event: str, /, *, project_id: int, actor_id: int | None = None, stage_id: int | None = None,
           item_id: int | None = None, task_id: int | None = None, schema_id: int | None = None,
           **detail) -> AuditEvent:
    return AuditEvent.objects.create(action=event, project_id=project_id, actor_id=actor_id, stage_id=stage_id,
                                     item_id=item_id, task_id=task_id, schema_id=schema_id, detail=detail)
