"""A Celery worker on the real broker whose database connection is killed under a task: the task
retries with backoff on a new connection and finishes once; the worker counts it, serves the counts
on its metrics port and logs JSON lines that carry the task and the request that sent it."""
import json

import psycopg
import pytest
import requests
from django.db import connection

from cardiocrowd.imaging.models import Study
from cardiocrowd.operations.logs import current_request_id
from labeling.models import Answer, Assignment, Consensus, Item, RoutingDecision, Task
from labeling.tasks import aggregate_task_task
from tests.conftest import new_stage, start_worker, wait_until

from .conftest import VIEW, free_port, metric_value

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]
AGGREGATE = "labeling.tasks.aggregate_task_task"


def answered_task(project, annotator) -> Task:
    """A task of a one-answer stage with its answer in, waiting for its consensus."""
    stage = new_stage(project, redundancy=1)
    study = Study.objects.create(project=project, study_uid="2.25.5151", patient_pseudonym="CCRETRY")
    item = Item.objects.create(project=project, study=study)
    task = Task.objects.create(stage=stage, item=item, state=Task.State.COMPLETE, open_slots=0, target_answers=1,
                               answer_count=1)
    assignment = Assignment.objects.create(task=task, item=item, worker=annotator, state=Assignment.State.SUBMITTED)
    Answer.objects.create(assignment=assignment, task=task, worker=annotator, schema=stage.schema, value=VIEW)
    return task


def backend_waiting_on_a_lock() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_task_whose_connection_is_killed_retries_and_finishes_once(project, annotator, broker_queue, tmp_path,
                                                                     monkeypatch):
    task = answered_task(project, annotator)
    port = free_port()
    monkeypatch.setenv("WORKER_METRICS_PORT", str(port))
    monkeypatch.setenv("LOG_FORMAT", "json")
    log_path = tmp_path / "worker.log"
    # Another session holds the task's row, so the worker's aggregation waits on it: the moment to kill its connection.
    blocker = psycopg.connect(dbname=connection.settings_dict["NAME"], user="postgres", host="127.0.0.1")
    blocker.execute("SELECT id FROM labeling_task WHERE id = %s FOR UPDATE", [task.pk])
    worker = start_worker(broker_queue, open(log_path, "ab"), loglevel="INFO")
    try:
        sent_for = current_request_id.set("web-request-77")
        aggregate_task_task.apply_async((task.pk,), queue=broker_queue)
        current_request_id.reset(sent_for)
        wait_until(lambda: backend_waiting_on_a_lock() is not None, 60, "the worker waiting on the row lock")
        blocker.execute("SELECT pg_terminate_backend(%s)", [backend_waiting_on_a_lock()])
        blocker.rollback()

        wait_until(lambda: RoutingDecision.objects.filter(task=task).exists(), 60, "the retried aggregation")
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        blocker.close()
        worker.terminate()
        worker.wait(timeout=30)

    assert metric_value(metrics, "cardiocrowd_celery_tasks_total", task=AGGREGATE, outcome="retried") == 1
    assert metric_value(metrics, "cardiocrowd_celery_tasks_total", task=AGGREGATE, outcome="succeeded") == 1
    assert metric_value(metrics, "cardiocrowd_celery_tasks_total", task=AGGREGATE, outcome="failed") is None
    assert RoutingDecision.objects.filter(task=task).count() == 1 and Consensus.objects.filter(task=task).count() == 1
    assert Item.objects.get(pk=task.item_id).status == Item.Status.ACCEPTED
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    retry = [line for line in lines if line.get("task_name") == AGGREGATE and "retry" in line["message"].lower()]
    assert len(retry) == 1 and "OperationalError" in retry[0]["message"]
    assert retry[0]["request_id"] == "web-request-77" and retry[0]["level"] in {"INFO", "WARNING"}
