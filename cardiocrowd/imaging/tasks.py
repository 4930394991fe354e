from celery import shared_task

from .services import plan_import_job, run_import_chunk


@shared_task(acks_late=True, time_limit=3600)
def plan_import_job_task(job_id: int) -> None:
    """Plan a job into chunks and fan them out to the workers (idempotent: see plan_import_job)."""
    for chunk_id in plan_import_job(job_id=job_id):
        run_import_chunk_task.delay(chunk_id)


@shared_task(acks_late=True, time_limit=3 * 3600)
def run_import_chunk_task(chunk_id: int) -> None:
    run_import_chunk(chunk_id=chunk_id)  # idempotent: a re-run finds the chunk's stored instances
