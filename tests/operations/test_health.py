"""/healthz and /readyz: what a load balancer and Kubernetes probes ask, answered without auth."""
import pytest

from .conftest import free_port

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_looking_at_dependencies(client, settings):
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{free_port()}//"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness_reports_each_dependency_ok(client):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok" and "failed" not in body
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["status"] == "ok" and check["latency_ms"] >= 0 for check in body["checks"].values())


def test_readiness_names_the_broker_when_its_port_is_closed(client, settings):
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    settings.CELERY_BROKER_URL = closed

    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable" and body["failed"] == ["broker"]
    assert body["checks"]["broker"] == {"status": "error", "latency_ms": body["checks"]["broker"]["latency_ms"],
                                        "error": "OperationalError"}
    assert body["checks"]["database"]["status"] == body["checks"]["storage"]["status"] == "ok"
    assert "guest" not in response.content.decode() and "127.0.0.1" not in response.content.decode()


def test_readiness_names_storage_when_the_data_folder_is_gone(client, settings, tmp_path):
    settings.CARDIOCROWD_DATA_DIR = tmp_path / "unmounted"

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["storage"]
    assert response.json()["checks"]["storage"]["error"] == "FileNotFoundError"


def test_the_storage_probe_leaves_nothing_behind(client, settings):
    client.get("/readyz")

    assert list(settings.CARDIOCROWD_DATA_DIR.iterdir()) == []


def test_probes_by_pod_address_pass_host_validation_that_the_rest_of_the_site_keeps(client, settings):
    settings.ALLOWED_HOSTS = ["cardiocrowd.example.org"]

    probe = client.get("/readyz", HTTP_HOST="10.42.0.17:8000")
    page = client.get("/api/templates/", HTTP_HOST="10.42.0.17:8000")

    assert probe.status_code == 200
    assert page.status_code == 400
