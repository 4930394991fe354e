from celery import shared_task

from .services import ExportBusy, build_export


# Busy: another worker holds the export. Waiting out a live build, or a dead worker's session
# that has not ended yet, takes seconds to an hour: back off up to 5 minutes, about four hours in all.
@shared_task(acks_late=True, time_limit=3600, autoretry_for=(ExportBusy,), retry_backoff=True,
             retry_backoff_max=300, max_retries=50)
def build_export_task(export_id: int) -> None:
    """Build an export's files (idempotent: a ready export is left as it is, anything else is
    rebuilt from scratch and published at once)."""
    build_export(export_id=export_id)
