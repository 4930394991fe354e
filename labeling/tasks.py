from celery import shared_task

from .assignment import release_expired_leases
from .flow import aggregate_task


@shared_task(acks_late=True, time_limit=600)
def aggregate_task_task(task_id: int) -> None:
    aggregate_task(task_id=task_id)  # idempotent per (task, round): a retry finds the decision made


@shared_task(acks_late=True, time_limit=120)
def release_expired_leases_task() -> int:
    return release_expired_leases()  # idempotent: only leases still open and past their time
