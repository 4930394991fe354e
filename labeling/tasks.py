from celery import shared_task
from django.conf import settings

from .assignment import release_expired_leases
from .estimation import reestimate_stage, stages_due
from .flow import aggregate_task


@shared_task(acks_late=True, time_limit=600)
def aggregate_task_task(task_id: int) -> None:
    aggregate_task(task_id=task_id)  # idempotent per (task, round): a retry finds the decision made


@shared_task(acks_late=True, time_limit=120)
def release_expired_leases_task() -> int:
    return release_expired_leases()  # idempotent: only leases still open and past their time


@shared_task(acks_late=True, time_limit=3600)
def reestimate_stage_task(stage_id: int, method: str = "ds") -> None:
    reestimate_stage(stage_id=stage_id, method=method)  # writes in one transaction: a retry redoes it whole


@shared_task(acks_late=True, time_limit=300)
def reestimate_due_stages_task() -> int:
    """Queue a re-estimation for every stage with new answers; large ones on the GPU queue if one is set."""
    due = stages_due()
    for stage_id, answers in due:
        large = settings.CONSENSUS_GPU_QUEUE and answers >= settings.CONSENSUS_GPU_MIN_ANSWERS
        reestimate_stage_task.apply_async((stage_id,), queue=settings.CONSENSUS_GPU_QUEUE if large
                                          else settings.CONSENSUS_QUEUE)
    return len(due)
