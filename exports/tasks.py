from celery import shared_task

from .services import build_export


@shared_task(acks_late=True, time_limit=3600)
def build_export_task(export_id: int) -> None:
    """Build an export's files (idempotent: a ready export is left as it is, one being built by
    another worker is skipped, anything else is rebuilt from scratch and published at once)."""
    build_export(export_id=export_id)
