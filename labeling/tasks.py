from celery import shared_task

from .services import aggregate_task, release_expired_leases


@shared_task(acks_late=True, time_limit=600)
def aggregate_task_task(task_id: int) -> None:
    aggregate_task(task_id=task_id)  # idempotent: rewrites the task's one Consensus row


@shared_task(acks_late=True, time_limit=120)
def release_expired_leases_task() -> int:
    return release_expired_leases()  # idempotent: only leases still open and past their time
