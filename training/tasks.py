from celery import shared_task

from .models import ModelSpec
from .services import execute_run, request_run, specs_due


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=6 * 3600)
def execute_run_task(run_id: int) -> None:
    # Idempotent: a finished, superseded or cancelled run is left alone; a redelivered one (its worker
    # died) starts over, and until it publishes, the previous version stays in force.
    execute_run(run_id=run_id)


@shared_task(acks_late=True, time_limit=300)
def retrain_due_models_task() -> int:
    """Queue a training run for each model with enough new labels, or whose schedule came round."""
    due = specs_due()
    for spec_id, trigger in due:
        request_run(spec=ModelSpec.objects.get(pk=spec_id), trigger=trigger)
    return len(due)
