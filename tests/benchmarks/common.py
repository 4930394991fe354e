"""What the benchmarks share: a fresh database and data folder, gunicorn, percentiles."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg
import requests

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))
from tests.broker import queue_state  # noqa: E402
from tests.orthanc import free_port  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))] if ordered else 0.0


@contextmanager
def fresh_platform(name: str, **environment: str) -> Iterator[Path]:
    """Production settings on a new database of BENCH_POSTGRES (default the machine's PostgreSQL),
    a temporary data folder and a Celery queue of its own; Django set up and migrated. All of it
    is removed on the way out. Yields the folder (logs go there)."""
    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    database = f"cardiocrowd_{name}_{os.getpid()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "cardiocrowd.settings", "DJANGO_SECRET_KEY": "benchmark-only",
        "DATABASE_URL": f"{server}/{database}", "CARDIOCROWD_DATA_DIR": str(folder / "data"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_SECURE_COOKIES": "false",
        "CELERY_DEFAULT_QUEUE": f"{name}-{os.getpid()}",  # no stale messages from other runs
        **environment,
    })
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield folder
    finally:
        from django.db import connections

        from cardiocrowd.celery import app

        connections.close_all()
        with app.connection_for_write() as broker:
            broker.default_channel.queue_delete(os.environ["CELERY_DEFAULT_QUEUE"])
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running_gunicorn(folder: Path, *, workers: int, threads: int) -> Iterator[str]:
    """gunicorn serving the platform on a free loopback port, sized as deployments size it
    (WEB_PROCESSES × WEB_THREADS, read by cardiocrowd/gunicorn_conf.py); yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:cardiocrowd.gunicorn_conf", "cardiocrowd.wsgi",
         "--bind", f"127.0.0.1:{port}",
         # Each request's path and time inside gunicorn, to tell server latency from the load generator's.
         "--access-logfile", str(folder / "access.log"), "--access-logformat", "%(m)s %(U)s %(s)s %(M)s"],
        cwd=REPOSITORY, env={**os.environ, "WEB_PROCESSES": str(workers), "WEB_THREADS": str(threads)},
        stdout=open(folder / "web.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(url + "/api/templates/", timeout=2)  # any answer, 401 included, means it serves
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield url
    finally:
        process.terminate()
        process.wait()


def server_times(folder: Path, path_pattern: str) -> list[float]:
    """Milliseconds gunicorn spent on each request whose path matches the regular expression."""
    pattern = re.compile(path_pattern)
    times = []
    for line in (folder / "access.log").read_text().splitlines():
        _, path, _, milliseconds = line.split()
        if pattern.search(path):
            times.append(float(milliseconds))
    return times


@contextmanager
def running_celery_workers(folder: Path, count: int) -> Iterator[list[subprocess.Popen]]:
    """`count` Celery workers consuming the platform's default queue through the broker, with the
    prefork pool deployments use (one pool process each: one task at a time). Yields as soon as
    they are started (they take seconds to import): `wait_until_consuming` waits for them."""
    queue = os.environ["CELERY_DEFAULT_QUEUE"]
    processes = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cardiocrowd", "worker", "-Q", queue, "-n", f"bench{number}@%h",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=REPOSITORY, env=os.environ.copy(), stdout=open(folder / f"worker{number}.log", "wb"),
        stderr=subprocess.STDOUT) for number in range(count)]
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


def wait_until_consuming(processes: list[subprocess.Popen], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while queue_state(os.environ["CELERY_DEFAULT_QUEUE"])[1] < len(processes):
        if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
            raise RuntimeError("the Celery workers did not start (see worker*.log in the benchmark's folder)")
        time.sleep(0.2)


def cpu_seconds_by_role() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this benchmark's gunicorn processes, its Celery
    workers and the PostgreSQL server (every backend and its WAL writer; the machine's other
    databases sit idle): what a capacity estimate divides by the work done (docs/scaling.md)."""
    totals = {"web": 0.0, "celery": 0.0, "postgres": 0.0}
    mine = psutil.Process().children(recursive=True)
    backends = [process for process in psutil.process_iter(["name"]) if process.info["name"] == "postgres"]
    for process in mine + backends:
        try:
            command = " ".join(process.cmdline())
            times = process.cpu_times()
        except psutil.Error:  # gone meanwhile
            continue
        role = "postgres" if process in backends else "web" if "gunicorn" in command else \
            "celery" if "celery" in command else None
        if role:
            # Children's times hold the processes that exited and were reaped: a backend whose
            # connection outlived CONN_MAX_AGE, counted by the postmaster.
            totals[role] += times.user + times.system + times.children_user + times.children_system
    return totals


def token_of_crowd_worker_holding(instance, admin) -> str:
    """An API token of a new crowd worker of the instance's project who holds its series' item in a
    view-classification stage: frames are timed in the role whose access check costs most."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from cardiocrowd.accounts.models import Membership
    from labeling.assignment import claim_next_task
    from labeling.design import add_items_to_stage, save_schema_version
    from labeling.models import Item, Stage
    from labeling.templates import TEMPLATES

    project, series = instance.project, instance.series
    worker = get_user_model().objects.create_user("bench-crowd")
    Membership.objects.create(project=project, user=worker, role=Membership.Role.CROWD)
    schema = save_schema_version(project=project, name="views", user=admin,
                                 definition=TEMPLATES["echo-view-classification"]["schema"])
    stage = Stage.objects.create(project=project, name="views", position=1, schema=schema, lease_seconds=3600)
    add_items_to_stage(stage=stage, items=[Item.objects.create(project=project, study=series.study, series=series)])
    claim_next_task(stage=stage, worker=worker)
    return Token.objects.create(user=worker).key
