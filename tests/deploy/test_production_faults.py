"""The production setup on this machine, under faults: gunicorn with the production settings (DEBUG
off, two processes) and two Celery worker processes on RabbitMQ serve a labeling round to crowd
workers labeling concurrently through the API. Mid-round one worker is killed (SIGKILL) in the
middle of an aggregation, and every database connection of the platform is terminated (its
connection pool restarted) while the other worker is in the middle of one too. The round goes on,
the killed worker is restarted: no acknowledged answer is lost, none is stored twice, and every
task gets its one consensus and routing decision."""
from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from cardiocrowd.accounts.models import Membership
from cardiocrowd.celery import app
from cardiocrowd.imaging.models import Instance
from labeling.models import Answer, AuditEvent, Consensus, Item, RoutingDecision, Task
from labeling.templates import ECHO_VIEWS
from tests.broker import queue_state
from tests.conftest import REPOSITORY, SUNNYBROOK_PATIENT, new_stage, wait_until
from tests.factories import MembershipFactory, ProjectFactory
from tests.orthanc import free_port

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]

ITEMS, REDUNDANCY, CROWD = 40, 2, 5
LOCK_HOLDER = "cc-fault-lock"  # application_name of the test's own session that stalls aggregations


@pytest.fixture
def queues():
    """The platform's default and consensus queues, named for this test alone (no stale messages)."""
    name = f"tests-prod-{os.getpid()}-{time.monotonic_ns()}"
    yield name, f"{name}-consensus"
    with app.connection_for_write() as broker:
        for queue in (name, f"{name}-consensus"):
            broker.default_channel.queue_delete(queue)


@pytest.fixture
def platform(queues, tmp_path):
    """Starts processes on the production settings, each with its own application_name so the
    database tells whose connection is whose; stops every one of them on the way out."""
    database = f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"
    environment = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "cardiocrowd.settings", "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_DEFAULT_QUEUE": queues[0], "CONSENSUS_QUEUE": queues[1],
        "CARDIOCROWD_DATA_DIR": str(settings.CARDIOCROWD_DATA_DIR), "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "WEB_PROCESSES": "2", "WEB_THREADS": "4", "DJANGO_LOG_LEVEL": "WARNING",
    }
    (tmp_path / "static").mkdir()
    started: list[subprocess.Popen] = []

    def start(role: str, *arguments: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", *arguments], cwd=REPOSITORY,
            env={**environment, "DATABASE_URL": f"{database}?application_name={role}"},
            stdout=open(tmp_path / f"{role}.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)  # a process group of its own: a worker and its pool die together
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker stuck in warm shutdown must not outlive the test
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_web(start) -> str:
    port = free_port()
    start("cc-web", "gunicorn", "-c", "python:cardiocrowd.gunicorn_conf", "cardiocrowd.wsgi",
          "--bind", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _is_ready(url), 90, "gunicorn ready")
    return url


def _is_ready(url: str) -> bool:
    """What a deployment's readiness probe asks: database, broker and storage answer."""
    try:
        return requests.get(url + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def start_production_worker(start, name: str, queues: tuple[str, str]) -> subprocess.Popen:
    """A worker as deployments run it (prefork pool), with one pool process to spare the CPU."""
    return start(f"cc-worker-{name}", "celery", "-A", "cardiocrowd", "worker", "-Q", ",".join(queues),
                 "-n", f"{name}@%h", "--pool", "prefork", "--concurrency", "1", "--without-heartbeat",
                 "--without-gossip", "--without-mingle", "--loglevel", "INFO")  # INFO: retries are logged


class CrowdRound:
    """Crowd workers labeling through the API in threads: next task, a short think, answer, until
    nothing is left for them. `pause` holds new requests back and waits for those under way."""

    def __init__(self, url: str, stage_id: int, slug: str, tokens: list[str]):
        self.next_url = f"{url}/api/projects/{slug}/stages/{stage_id}/next/"
        self.answer_url = url + "/api/assignments/{}/answer/"
        self.tokens = tokens
        self.phase = "before the faults"
        self.paused, self.under_way = False, 0
        self.gate = threading.Condition()
        self.acknowledged: list[int] = []  # ids of the answers the API said it stored
        self.requests: Counter[tuple[str, str, int]] = Counter()  # (phase, endpoint, status)
        self.threads = [threading.Thread(target=self.label, args=(token, seed)) for seed, token in enumerate(tokens)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def label(self, token: str, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            while True:
                task = self.send(session, "next", self.next_url, {})
                if task.status_code != 200:
                    return  # 204: nothing left for this worker; anything else is counted as a failure
                time.sleep(rng.uniform(0.02, 0.08))
                answer = {"view": rng.choice(ECHO_VIEWS[:3])[0], "quality": "good"}
                stored = self.send(session, "answer", self.answer_url.format(task.json()["assignment"]),
                                   {"value": answer})
                if stored.status_code != 201:
                    return
                with self.gate:
                    self.acknowledged.append(stored.json()["id"])

    def send(self, session: requests.Session, endpoint: str, url: str, body: dict) -> requests.Response:
        with self.gate:
            self.gate.wait_for(lambda: not self.paused)
            self.under_way += 1
            phase = self.phase
        try:
            response = session.post(url, json=body, timeout=30)
        finally:
            with self.gate:
                self.under_way -= 1
                self.gate.notify_all()
        with self.gate:
            self.requests[phase, endpoint, response.status_code] += 1
        return response

    def pause(self) -> None:
        with self.gate:
            self.paused = True
            assert self.gate.wait_for(lambda: self.under_way == 0, timeout=30), "requests still under way"

    def resume(self, phase: str) -> None:
        with self.gate:
            self.phase, self.paused = phase, False
            self.gate.notify_all()

    def join(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self.threads), f"the round did not end within {seconds} s"


def labeling_round(project_slug: str, ingest) -> tuple[object, list[str]]:
    """A crowd stage (redundancy 2) over one item per real MR slice, and crowd workers with tokens."""
    project = ProjectFactory(slug=project_slug)
    ingest(project, *sorted(SUNNYBROOK_PATIENT.glob("*.dcm"), key=lambda path: int(path.stem))[:ITEMS])
    stage = new_stage(project, redundancy=REDUNDANCY)
    Task.objects.bulk_create([
        Task(stage=stage, item=Item.objects.create(project=project, study=instance.series.study,
                                                   series=instance.series, instance=instance),
             open_slots=REDUNDANCY, target_answers=REDUNDANCY)
        for instance in Instance.objects.filter(series__study__project=project).select_related("series__study")])
    workers = [MembershipFactory(project=project, role=Membership.Role.CROWD).user for _ in range(CROWD)]
    return stage, [Token.objects.create(user=worker).key for worker in workers]


def stalled_aggregations(cursor) -> set[str]:
    """Whose connections wait on the lock the test holds: each is a worker in the middle of an
    aggregation (the consensus computed, the task row locked, its consensus row being written)."""
    cursor.execute("""SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                      WHERE NOT l.granted AND l.relation = 'labeling_consensus'::regclass""")
    return {name for (name,) in cursor.fetchall()}


def terminate_every_connection(cursor) -> list[str]:
    """Restart the platform's connection pool the hard way: end every session on its database but
    the test's own, waiting for each to be gone; the lock holder last, so the stalled aggregations
    die while they still wait on it. Returns whose connections they were."""
    cursor.execute("""SELECT application_name, pg_terminate_backend(pid, 10000) FROM pg_stat_activity
                      WHERE datname = current_database() AND pid <> pg_backend_pid()
                        AND backend_type = 'client backend'
                      ORDER BY application_name = %s""", [LOCK_HOLDER])
    return [name for name, ended in cursor.fetchall() if ended]


def test_killed_worker_and_restarted_connection_pool_lose_and_double_nothing(platform, queues, ingest, tmp_path):
    stage, tokens = labeling_round("prod-faults", ingest)
    database = connection.settings_dict
    # Stall every aggregation where it writes the consensus: SHARE mode lets the API's reads and
    # row locks through and stops only inserts and updates of consensus rows.
    lock_holder = psycopg.connect(dbname=database["NAME"], user=database["USER"], host=database["HOST"],
                                  port=database["PORT"] or 5432, application_name=LOCK_HOLDER)
    lock_holder.execute("LOCK TABLE labeling_consensus IN SHARE MODE")
    workers = {name: start_production_worker(platform, name, queues) for name in ("a", "b")}
    url = start_web(platform)
    wait_until(lambda: queue_state(queues[0])[1] == 2, 90, "both workers consuming")
    crowd = CrowdRound(url, stage.pk, "prod-faults", tokens)
    started = time.monotonic()

    crowd.start()
    with connection.cursor() as cursor:
        wait_until(lambda: stalled_aggregations(cursor) == {"cc-worker-a", "cc-worker-b"}, 60,
                   "both workers in the middle of an aggregation")
        os.killpg(workers["a"].pid, signal.SIGKILL)  # as a machine or container dies: the worker and its pool
        workers["a"].wait(timeout=20)
        crowd.pause()
        answered_before = len(crowd.acknowledged)
        terminated = terminate_every_connection(cursor)
    lock_holder.close()
    crowd.resume("after the faults")
    workers["a"] = start_production_worker(platform, "a", queues)
    crowd.join(60)
    wait_until(lambda: RoutingDecision.objects.filter(task__stage=stage).count() == ITEMS
               and queue_state(queues[0])[0] == 0, 90, "every aggregation done")
    elapsed = time.monotonic() - started

    # The faults hit what they were meant to: the killed worker's orphaned session, the other
    # worker mid-aggregation (its aggregation failed and was retried), the web processes' pooled
    # connections and the lock holder.
    assert {"cc-web", "cc-worker-a", "cc-worker-b", LOCK_HOLDER} <= set(terminated)
    assert any("retry" in line and "terminating connection due to administrator command" in line
               for line in (tmp_path / "cc-worker-b.log").read_text().splitlines())
    assert 0 < answered_before < ITEMS * REDUNDANCY
    assert {(endpoint, status) for _, endpoint, status in crowd.requests} <= {("next", 200), ("next", 204),
                                                                              ("answer", 201)}
    assert sum(count for (phase, endpoint, status), count in crowd.requests.items()
               if phase == "after the faults" and endpoint == "answer") == ITEMS * REDUNDANCY - answered_before
    answers = list(Answer.objects.filter(task__stage=stage).values_list("pk", "task_id", "worker_id"))
    assert sorted(pk for pk, _, _ in answers) == sorted(crowd.acknowledged)
    assert len(crowd.acknowledged) == ITEMS * REDUNDANCY
    assert set(Counter((task, worker) for _, task, worker in answers).values()) == {1}
    tasks = Task.objects.filter(stage=stage)
    assert set(tasks.values_list("state", "answer_count")) == {("complete", REDUNDANCY)}
    assert sorted(Consensus.objects.filter(task__stage=stage).values_list("answer_count", flat=True)) == \
        [REDUNDANCY] * ITEMS
    assert {consensus.fields["view"]["votes"] for consensus in Consensus.objects.filter(task__stage=stage)} == \
        {REDUNDANCY}
    assert Counter(RoutingDecision.objects.filter(task__stage=stage).values_list("task_id", flat=True)) == \
        Counter({task.pk: 1 for task in tasks})
    assert Counter(AuditEvent.objects.filter(action="routing.decided", stage_id=stage.pk)
                   .values_list("task_id", flat=True)) == Counter({task.pk: 1 for task in tasks})
    # Two workers who disagree leave a tie, which is no label: held (this pipeline has no review stage),
    # never accepted. Every other item is accepted.
    tied = {consensus.task.item_id for consensus in Consensus.objects.filter(task__stage=stage).select_related("task")
            if consensus.fields["view"]["value"] is None}
    statuses = dict(Item.objects.filter(project=stage.project).values_list("pk", "status"))
    assert statuses == {pk: "in_progress" if pk in tied else "accepted" for pk in statuses}
    print(f"\nround with faults: {ITEMS * REDUNDANCY} answers ({answered_before} before the faults), "
          f"{len(terminated)} connections terminated, {elapsed:.1f} s")
