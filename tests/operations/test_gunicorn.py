"""The web server as production runs it: gunicorn with several processes, metrics in multiprocess
mode, JSON logs, and database connections killed under it."""
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.conftest import REPOSITORY, wait_until

from .conftest import free_port, metric_value

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "gunicorn-test-token"


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    """gunicorn, 2 processes × 2 threads, on the test database (started once: it takes seconds); yields its
    base URL, its log file and its folder of metrics files."""
    folder = tmp_path_factory.mktemp("gunicorn")
    port, metrics_dir, log_path, data_dir = free_port(), folder / "prometheus", folder / "gunicorn.log", folder / "data"
    metrics_dir.mkdir()
    data_dir.mkdir()
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
                   "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
                   "CARDIOCROWD_DATA_DIR": str(data_dir), "PROMETHEUS_MULTIPROC_DIR":
                   str(metrics_dir), "WEB_PROCESSES": "2", "WEB_THREADS": "2", "LOG_FORMAT": "json",
                   "METRICS_TOKEN": TOKEN}
    with open(log_path, "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:cardiocrowd.gunicorn_conf",
                                   "cardiocrowd.wsgi", "--bind", f"127.0.0.1:{port}"],
                                  cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/healthz"), 90, "gunicorn answering")
        yield base, log_path, metrics_dir
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:  # not listening yet, or its processes still booting
        return False


def scrape(base: str) -> str:
    response = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    return response.text


def probe_many(base: str, count: int) -> list[requests.Response]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: requests.get(f"{base}/readyz", timeout=10), range(count)))


def serving_pids(metrics_dir: Path) -> set[int]:
    """The live web processes that have recorded a request."""
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("histogram_*.db")}
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def readyz_count(base: str) -> float:
    return metric_value(scrape(base), "cardiocrowd_http_request_duration_seconds_count", view="readyz",
                        method="GET", status="200") or 0


def test_metrics_sum_every_web_process_and_keep_a_dead_ones_counts(web):
    base, _, metrics_dir = web

    before = readyz_count(base)

    probes = probe_many(base, 40)
    pids = serving_pids(metrics_dir)
    counted = readyz_count(base) - before
    os.kill(min(pids), signal.SIGKILL)  # gunicorn replaces the process; child_exit marks it dead
    wait_until(lambda: _answers(f"{base}/healthz") and len(serving_pids(metrics_dir)) >= 2, 60,
               "a replacement process serving")

    assert [probe.status_code for probe in probes] == [200] * 40
    assert len(pids) == 2  # both processes served, and one scrape sums them
    assert counted == 40
    assert readyz_count(base) - before == 40  # the dead process's requests stay in the sum


def test_web_processes_recover_from_database_connections_killed_under_them(web):
    base, _, _ = web
    probe_many(base, 16)  # every thread now holds a persistent connection (CONN_MAX_AGE)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        killed = cursor.fetchone()[0]
    time.sleep(0.5)
    probes = probe_many(base, 16)

    assert killed >= 1
    assert [probe.status_code for probe in probes] == [200] * 16
    assert all(probe.json()["checks"]["database"]["status"] == "ok" for probe in probes)


def test_web_log_lines_are_json_and_carry_the_request_id(web):
    base, log_path, _ = web

    response = requests.get(f"{base}/api/no-such-endpoint/", headers={"X-Request-ID": "trace-5150"}, timeout=10)
    wait_until(lambda: "trace-5150" in log_path.read_text(), 10, "the request's log line")

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line.get("request_id") == "trace-5150"]
    assert response.headers["X-Request-ID"] == "trace-5150"
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "django.request",
                                                                "Not Found: /api/no-such-endpoint/")
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    assert all(not text.strip() or text.startswith("{") for text in log_path.read_text().splitlines())
