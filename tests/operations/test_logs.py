"""Structured logs: one JSON object a line, tied to its request by the request id."""
import io
import json
import logging
from datetime import datetime

import pytest

from cardiocrowd.operations.logs import ContextFilter, JsonFormatter

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log():
    """The root logger's records, formatted as production formats them with LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logging.getLogger().addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_a_log_line_is_one_json_object_with_the_request_id(client, json_log):
    response = client.get("/api/no-such-endpoint/", HTTP_X_REQUEST_ID="edge-7f3a.42")

    [line] = [line for line in json_log() if line["logger"] == "django.request"]
    assert response["X-Request-ID"] == "edge-7f3a.42"
    assert (line["level"], line["message"], line["request_id"]) == ("WARNING", "Not Found: /api/no-such-endpoint/",
                                                                     "edge-7f3a.42")
    assert line["status_code"] == 404
    assert datetime.fromisoformat(line["time"]).tzinfo is not None
    assert "request" not in line  # Django's request object (and its query string) stays out


def test_a_request_without_an_id_gets_one(client, json_log):
    response = client.get("/api/no-such-endpoint/")

    [line] = [line for line in json_log() if line["logger"] == "django.request"]
    assert len(response["X-Request-ID"]) == 32
    assert line["request_id"] == response["X-Request-ID"]


@pytest.mark.parametrize("incoming", ["two words", "line\nbreak", "x" * 129, ""])
def test_an_incoming_id_that_could_forge_log_lines_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_answers_never_reach_the_log(api_client, annotator, open_stage, json_log):
    stage = open_stage(1)
    api_client.force_authenticate(annotator)
    task = api_client.post(f"/api/projects/{stage.project.slug}/stages/{stage.pk}/next/").json()

    api_client.post(f"/api/assignments/{task['assignment']}/answer/",
                    {"value": {"view": "A4C", "quality": "good"}, "note": "patient name Jane Roe"}, format="json")
    api_client.post(f"/api/assignments/{task['assignment'] + 1000}/answer/",
                    {"value": {"view": "PLAX"}, "note": "patient name Jane Roe"}, format="json")

    lines = json_log()
    assert any(line.get("status_code") == 404 for line in lines)  # the refused answer was logged
    assert "Jane Roe" not in json.dumps(lines)
