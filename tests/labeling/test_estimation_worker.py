"""A consensus run goes through the real broker (RabbitMQ) to a Celery worker process that is
killed half-way: the previous consensus stays intact, and the run finishes on the restarted
worker, nothing doubled."""
import signal

import pytest
from django.db import connection

from cardiocrowd.imaging.models import Study
from labeling.models import Consensus, ConsensusRun, RoutingDecision, WorkerEstimate
from labeling.tasks import reestimate_stage_task
from tests.conftest import new_stage, start_worker, wait_until
from tests.factories import UserFactory

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

TASKS, WORKERS = 10_000, 20


def answered_stage(project):
    """A stage of 10,000 completed tasks, three answers each from 20 workers, with a majority-vote
    consensus each: written set-based, in seconds."""
    stage = new_stage(project, redundancy=3, consensus_method="ds")  # what the assertions below check
    study = Study.objects.create(project=project, study_uid="2.25.900", patient_pseudonym="CCKILL")
    workers = [UserFactory().pk for _ in range(WORKERS)]
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO labeling_item (project_id, study_id, status, created_at) "
                       "SELECT %s, %s, 'in_progress', now() FROM generate_series(1, %s)",
                       [project.pk, study.pk, TASKS])
        cursor.execute("INSERT INTO labeling_task (stage_id, item_id, kind, state, priority, open_slots, "
                       "target_answers, answer_count, round, created_at) SELECT %s, id, 'normal', 'complete', 0, 0, "
                       "3, 3, 1, now() FROM labeling_item WHERE study_id = %s", [stage.pk, study.pk])
        for k in range(3):  # three distinct workers a task
            cursor.execute("INSERT INTO labeling_assignment (task_id, item_id, worker_id, round, state, leased_at) "
                           "SELECT id, item_id, (%s::int[])[1 + (id + %s) %% %s], 1, 'submitted', now() "
                           "FROM labeling_task WHERE stage_id = %s", [workers, 7 * k, WORKERS, stage.pk])
        cursor.execute("INSERT INTO labeling_answer (assignment_id, task_id, worker_id, schema_id, round, value, "
                       "skip_reason, verdict, note, created_at) SELECT a.id, a.task_id, a.worker_id, %s, 1, "
                       "jsonb_build_object('view', CASE WHEN random() < 0.8 THEN 'A4C' ELSE 'PLAX' END, "
                       "'quality', 'good'), '', '', '', now() FROM labeling_assignment a JOIN labeling_task t "
                       "ON t.id = a.task_id WHERE t.stage_id = %s", [stage.schema_id, stage.pk])
        cursor.execute("INSERT INTO labeling_consensus (task_id, method, fields, confidence, answer_count, "
                       "updated_at) SELECT id, 'majority_vote', '{\"view\": {\"value\": \"A4C\", \"share\": 0.6667, "
                       "\"votes\": 3}}', 0.6667, 3, now() FROM labeling_task WHERE stage_id = %s", [stage.pk])
    return stage


def test_a_worker_killed_during_a_consensus_run_leaves_it_whole(project, broker_queue, tmp_path):
    stage = answered_stage(project)
    log = open(tmp_path / "worker.log", "ab")
    worker = start_worker(broker_queue, log)
    reestimate_stage_task.apply_async((stage.pk,), queue=broker_queue)

    wait_until(lambda: ConsensusRun.objects.filter(stage=stage, status="running").exists(), 60, "the run starting")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=20)
    untouched = (Consensus.objects.filter(task__stage=stage).exclude(method="majority_vote").count(),
                 WorkerEstimate.objects.filter(stage=stage).count())
    restarted = start_worker(broker_queue, log)
    try:
        wait_until(lambda: ConsensusRun.objects.filter(stage=stage, status="succeeded").exists(), 120,
                 "the run finishing after the restart")
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    assert untouched == (0, 0)  # killed before its one transaction: nothing half-written
    runs = list(ConsensusRun.objects.filter(stage=stage).order_by("pk").values_list("status", "error"))
    assert [status for status, _ in runs] == ["failed", "succeeded"] and "interrupted" in runs[0][1]
    assert Consensus.objects.filter(task__stage=stage).count() == TASKS
    assert not Consensus.objects.filter(task__stage=stage).exclude(method="dawid_skene").exists()
    assert WorkerEstimate.objects.filter(stage=stage).count() == WORKERS * 2  # view and quality, once each
    assert RoutingDecision.objects.filter(task__stage=stage).count() == 0
