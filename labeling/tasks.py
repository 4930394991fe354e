from celery import shared_task
from django.conf import settings
from django.db import InterfaceError
from django.db import OperationalError as DatabaseUnavailable
from kombu.exceptions import OperationalError as BrokerUnavailable

from .assignment import release_expired_leases
from .estimation import reestimate_stage, stages_due
from .flow import aggregate_task

# A database restart, a failover or a connection killed under the task (the retry runs with a new
# connection: Celery's Django fixup closes connections around every task), or a broker that dropped
# while the task enqueued its follow-up. Backoff 1, 2, 4 … s (jittered, at most 5 minutes), 6 tries in all.
TRANSIENT_ERRORS = (DatabaseUnavailable, InterfaceError, BrokerUnavailable)
RETRY_ON_TRANSIENT_ERRORS = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": True, "retry_backoff_max": 300,
                             "retry_jitter": True, "max_retries": 5}


@shared_task(acks_late=True, time_limit=600, soft_time_limit=570, **RETRY_ON_TRANSIENT_ERRORS)
def aggregate_task_task(task_id: int) -> None:
    aggregate_task(task_id=task_id)  # idempotent per (task, round): a retry finds the decision made


@shared_task(acks_late=True, time_limit=120)
def release_expired_leases_task() -> int:
    return release_expired_leases()  # idempotent: only leases still open and past their time


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3540, **RETRY_ON_TRANSIENT_ERRORS)
def reestimate_stage_task(stage_id: int, method: str | None = None) -> None:
    # None: the stage's own consensus method (Stage.consensus_method), read when the run starts.
    # Idempotent: writes in one transaction, and a retry first marks the run its failed try left "running" as failed.
    reestimate_stage(stage_id=stage_id, method=method)


@shared_task(acks_late=True, time_limit=300)
def reestimate_due_stages_task() -> int:
    """Queue a re-estimation for every stage with new answers; large ones on the GPU queue if one is set."""
    due = stages_due()
    for stage_id, answers in due:
        large = settings.CONSENSUS_GPU_QUEUE and answers >= settings.CONSENSUS_GPU_MIN_ANSWERS
        reestimate_stage_task.apply_async((stage_id,), queue=settings.CONSENSUS_GPU_QUEUE if large
                                          else settings.CONSENSUS_QUEUE)
    return len(due)
