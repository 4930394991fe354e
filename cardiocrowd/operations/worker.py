"""Celery side of operations: the log context of each task (its id, name and the web request that
sent it), the task counters, and the worker's own metrics port."""
from __future__ import annotations

import logging
import os
from contextvars import Token
from typing import Any

from celery import Task
from celery.signals import (
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
    worker_process_shutdown,
    worker_ready,
)
from django.conf import settings
from django.utils import timezone
from prometheus_client import start_http_server

from .logs import current_request_id, current_task
from .metrics import CELERY_TASKS, TRAINING_RUNS_FINISHED, worker_registry

logger = logging.getLogger(__name__)

# The message header that carries the id of the web request that sent the task.
REQUEST_ID_HEADER = "cardiocrowd_request_id"
TRAINING_RUN_TASK = "training.tasks.execute_run_task"
_task_started_at: dict[str, Any] = {}  # task id → when this worker started it (training runs only)
# The log context of each task running in this thread, innermost last: a task can run inside another
# (a retry published with no countdown is executed before the failed try has logged its retry).
_context_stack: list[tuple[Token, Token]] = []


@before_task_publish.connect
def _pass_request_id(headers: dict, **_: Any) -> None:
    request_id = current_request_id.get()
    if request_id is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def _enter_task(task_id: str, task: Task, **_: Any) -> None:
    _context_stack.append((current_task.set((task_id, task.name)),
                           current_request_id.set(task.request.get(REQUEST_ID_HEADER))))
    if task.name == TRAINING_RUN_TASK:
        _task_started_at[task_id] = timezone.now()


@task_postrun.connect
def _leave_task(task_id: str, task: Task, args: tuple, **_: Any) -> None:
    started_at = _task_started_at.pop(task_id, None)
    if started_at is not None and args:
        _count_finished_run(args[0], started_at)
    if _context_stack:
        task_token, request_token = _context_stack.pop()
        current_task.reset(task_token)
        current_request_id.reset(request_token)


def _count_finished_run(run_id: int, started_at: Any) -> None:
    from training.models import TrainingRun

    # Only a run this execution finished: a redelivered message for a run already done counts nothing.
    run = TrainingRun.objects.filter(pk=run_id, finished_at__gte=started_at).values("kind", "status").first()
    if run is not None:
        TRAINING_RUNS_FINISHED.labels(kind=run["kind"], outcome=run["status"]).inc()


@task_success.connect
def _count_success(sender: Task, **_: Any) -> None:
    CELERY_TASKS.labels(task=sender.name, outcome="succeeded").inc()


@task_failure.connect
def _count_failure(sender: Task, **_: Any) -> None:
    CELERY_TASKS.labels(task=sender.name, outcome="failed").inc()


@task_retry.connect
def _count_retry(sender: Task, **_: Any) -> None:
    CELERY_TASKS.labels(task=sender.name, outcome="retried").inc()


@worker_ready.connect
def _serve_worker_metrics(**_: Any) -> None:
    if settings.WORKER_METRICS_PORT:
        start_http_server(settings.WORKER_METRICS_PORT, registry=worker_registry())
        logger.info("worker metrics on port %s", settings.WORKER_METRICS_PORT)


@worker_process_shutdown.connect
def _forget_pool_process(**_: Any) -> None:
    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)
