"""/metrics: refused without the token (or from outside), and the figures move with real work done
through the API, the real broker and the database."""
import pytest
from prometheus_client import REGISTRY

from cardiocrowd.celery import app
from labeling.tasks import release_expired_leases_task
from tests.conftest import new_stage, wait_until
from training.models import ModelSpec, TrainingRun
from training.tasks import execute_run_task

from .conftest import VIEW, free_port, metric_value

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-tests"


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_are_refused_without_the_token_or_with_a_wrong_one(client):
    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-for-test")
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}")

    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"cardiocrowd_" not in missing.content + wrong.content + basic.content


def test_with_the_token_metrics_are_served(client):
    exposition = scrape(client)

    assert "# TYPE cardiocrowd_http_request_duration_seconds histogram" in exposition
    assert metric_value(exposition, "cardiocrowd_answers_last_minute") == 0
    assert metric_value(exposition, "cardiocrowd_training_runs", status="running") == 0


@pytest.mark.parametrize(("address", "status"), [("127.0.0.1", 200), ("10.12.0.5", 200), ("192.168.1.9", 200),
                                                 ("::1", 200), ("fd00::5", 200), ("8.8.8.8", 403),
                                                 ("2001:4860:4860::8888", 403), ("not-an-address", 403)])
def test_without_a_token_metrics_go_only_to_internal_addresses(client, settings, address, status):
    settings.METRICS_TOKEN = None

    response = client.get("/metrics", REMOTE_ADDR=address)

    assert response.status_code == status


def test_claiming_and_answering_through_the_api_moves_the_counters(client, api_client, annotator, open_stage):
    stage = open_stage(1)
    before = scrape(client)
    api_client.force_authenticate(annotator)

    task = api_client.post(f"/api/projects/{stage.project.slug}/stages/{stage.pk}/next/").json()
    answered = api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")
    api_client.post(f"/api/assignments/{task['assignment']}/answer/", {"value": VIEW}, format="json")  # a retry
    after = scrape(client)

    assert answered.status_code == 201

    def moved(sample, **labels):
        return (metric_value(after, sample, **labels) or 0) - (metric_value(before, sample, **labels) or 0)
    assert moved("cardiocrowd_tasks_served_total", kind="normal") == 1
    assert moved("cardiocrowd_answers_stored_total", kind="normal") == 1  # the retried submit stored nothing
    assert metric_value(after, "cardiocrowd_answers_last_minute") == 1
    assert moved("cardiocrowd_http_request_duration_seconds_count", view="next-task", method="POST",
                 status="200") == 1
    assert moved("cardiocrowd_http_request_duration_seconds_count", view="answer", method="POST", status="201") == 1
    assert moved("cardiocrowd_http_request_duration_seconds_count", view="answer", method="POST", status="200") == 1


def test_request_latency_is_labelled_by_route_never_by_raw_path(client):
    client.get("/api/projects/no-such-project/stages/123456/next/")
    client.get("/no/such/page/98765")

    exposition = scrape(client)

    assert metric_value(exposition, "cardiocrowd_http_request_duration_seconds_count", view="next-task",
                        method="GET") is not None
    assert metric_value(exposition, "cardiocrowd_http_request_duration_seconds_count", view="unmatched",
                        status="404") is not None
    assert "123456" not in exposition and "98765" not in exposition


def test_training_runs_are_counted_by_status(client, project):
    spec = ModelSpec.objects.create(project=project, stage=new_stage(project), field="view", name="views",
                                    task=ModelSpec.Task.CLASSIFICATION)
    for status in ["succeeded", "succeeded", "failed", "queued"]:
        TrainingRun.objects.create(spec=spec, status=status, trigger="manual")

    exposition = scrape(client)

    counts = {status: metric_value(exposition, "cardiocrowd_training_runs", status=status)
              for status in TrainingRun.Status.values}
    assert counts == {"queued": 1, "running": 0, "succeeded": 2, "failed": 1, "cancelled": 0, "superseded": 0}


def test_a_finished_training_run_is_counted_once_by_outcome(project):
    spec = ModelSpec.objects.create(project=project, stage=new_stage(project), field="view", name="views",
                                    task=ModelSpec.Task.CLASSIFICATION)
    run = TrainingRun.objects.create(spec=spec, trigger="manual", cancel_requested=True)  # stops at its first step
    labels = {"kind": "train", "outcome": "cancelled"}
    before = REGISTRY.get_sample_value("cardiocrowd_training_runs_finished_total", labels) or 0

    execute_run_task.apply((run.pk,))
    execute_run_task.apply((run.pk,))  # a redelivered message: the run is already done

    assert TrainingRun.objects.get(pk=run.pk).status == "cancelled"
    assert REGISTRY.get_sample_value("cardiocrowd_training_runs_finished_total", labels) - before == 1


def test_queue_depth_equals_the_messages_waiting(client, settings, broker_queue):
    settings.TRAINING_QUEUE = broker_queue
    for _ in range(3):
        release_expired_leases_task.apply_async(queue=broker_queue)

    wait_until(lambda: metric_value(scrape(client), "cardiocrowd_queue_depth", queue=broker_queue) == 3, 10,
               "the three messages being counted")


def test_an_unreachable_broker_leaves_queue_depth_out_and_counts_a_scrape_error(client, settings):
    before = metric_value(scrape(client), "cardiocrowd_metrics_scrape_errors_total", source="broker") or 0
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"

    exposition = scrape(client)

    assert metric_value(exposition, "cardiocrowd_queue_depth") is None
    assert metric_value(exposition, "cardiocrowd_metrics_scrape_errors_total", source="broker") == before + 1
    assert metric_value(exposition, "cardiocrowd_answers_last_minute") == 0  # the database figures still come


def test_an_empty_queue_reads_zero_and_a_scrape_costs_two_queries(client, settings, broker_queue,
                                                                   django_assert_num_queries):
    settings.TRAINING_QUEUE = broker_queue
    with app.connection_for_write() as broker:
        broker.default_channel.queue_declare(queue=broker_queue, durable=True, auto_delete=False)

    with django_assert_num_queries(2):  # answers of the last minute, training runs by status
        exposition = scrape(client)

    assert metric_value(exposition, "cardiocrowd_queue_depth", queue=broker_queue) == 0
