"""A training run goes through the real broker (RabbitMQ) to a Celery worker process that is killed
in the middle of training: the previous version, its predictions and the priorities stay in force,
and the redelivered message trains the model over again on the restarted worker."""
import signal

import pytest

from labeling.models import Task
from tests.conftest import start_worker, wait_until
from training import services
from training.models import ModelVersion, Prediction, TrainingRun
from training.tasks import execute_run_task

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_during_training_leaves_the_version_in_force_and_the_run_is_redone(
        mr_stage, admin_user, broker_queue, tmp_path, monkeypatch):
    stage = mr_stage["stage"]
    spec = services.create_spec(stage=stage, field="level", user=admin_user, size=32, epochs=2,
                                strategy="entropy", batch_size=3, train_layers="all")
    sent = []
    monkeypatch.setattr(execute_run_task, "delay", lambda *args: sent.append(
        execute_run_task.apply_async(args, queue=broker_queue)))  # the test's own queue, not "gpu"
    first = services.request_run(spec=spec)
    log = open(tmp_path / "worker.log", "ab")
    worker = start_worker(broker_queue, log)
    try:
        wait_until(lambda: TrainingRun.objects.get(pk=first.pk).status == "succeeded", 120, "the first version")
        before = dict(Task.objects.filter(stage=stage, state="open").values_list("item_id", "priority"))
        type(spec).objects.filter(pk=spec.pk).update(epochs=400)  # long enough to be killed while training
        second = services.request_run(spec=spec)
        wait_until(lambda: TrainingRun.objects.filter(pk=second.pk, status="running", stage_of_work="training",
                                                      progress__gt=0.15).exists(), 120, "the training under way")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    version = services.current_version(spec)
    interrupted = (TrainingRun.objects.get(pk=second.pk).status, version.pk, ModelVersion.objects.filter(
        spec=spec).count(), set(Prediction.objects.filter(version__spec=spec).values_list("version", flat=True)),
        dict(Task.objects.filter(stage=stage, state="open").values_list("item_id", "priority")))
    type(spec).objects.filter(pk=spec.pk).update(epochs=2)
    restarted = start_worker(broker_queue, log)
    try:
        wait_until(lambda: TrainingRun.objects.get(pk=second.pk).status in {"succeeded", "failed"}, 180,
                   "the redelivered run finishing")
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)

    first.refresh_from_db()
    second.refresh_from_db()
    assert interrupted == ("running", first.version_id, 1, {first.version_id}, before)
    assert (second.status, second.error, second.version.number) == ("succeeded", "", 2)
    assert services.current_version(spec).pk == second.version_id
    assert set(Prediction.objects.filter(version__spec=spec).values_list("version", flat=True)) == {second.version_id}
    assert len(sent) == 2  # one message each: the second run was redelivered, not sent again
