from celery import shared_task

from .services import run_import_job


@shared_task(acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def run_import_job_task(job_id: int) -> None:
    run_import_job(job_id=job_id)  # idempotent: stored instances are found again as this job's own
