"""Next-task and submit under concurrent simulated workers, through gunicorn and PostgreSQL.

    python tests/benchmarks/bench_assignment.py [--items 10000] [--workers 100] [--seconds 60] [--think-ms 1000]
                                                [--production]

Self-contained: makes a fresh database on BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432),
queues `--items` items in a crowd stage (redundancy 3, random priorities), starts gunicorn, and runs
`--workers` threads, each a crowd worker with its own token, looping: next task, think for about
`--think-ms` (uniform 0.5×–1.5×, as a person labeling), answer. Aggregations are queued on a
RabbitMQ queue of its own (no worker: only the web path is timed), deleted at the end with the
database. The last line printed is one JSON object.

`--production` runs the platform as deployed: besides gunicorn (production settings, DEBUG off,
pooled database connections), `--celery-workers` Celery worker processes aggregate the completed
tasks through RabbitMQ while the load runs; after it the benchmark waits (at most
`--drain-seconds`) for every completed task's consensus and reports what is still pending.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from contextlib import nullcontext

import requests
from common import (
    cpu_seconds_by_role,
    fresh_platform,
    percentile,
    queue_state,
    running_celery_workers,
    running_gunicorn,
    server_times,
    wait_until_consuming,
)

ANSWER = {"view": "A4C", "quality": "good"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think-ms", type=float, default=1000)
    parser.add_argument("--web-processes", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--production", action="store_true", help="aggregate through real Celery workers")
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--drain-seconds", type=float, default=90)
    arguments = parser.parse_args()

    with fresh_platform("bench-assign", DJANGO_LOG_LEVEL="WARNING", DJANGO_DEBUG="false") as folder:
        stage, tokens = populate(arguments.items, arguments.workers)
        aggregating = running_celery_workers(folder, arguments.celery_workers) if arguments.production \
            else nullcontext()
        with aggregating as celery_workers, \
                running_gunicorn(folder, workers=arguments.web_processes, threads=arguments.web_threads) as url:
            if arguments.production:
                wait_until_consuming(celery_workers)
            before = cpu_seconds_by_role()
            result = drive(url, stage, tokens, arguments)
            result["load_average_1m"] = round(os.getloadavg()[0], 2)  # a shared machine: what else ran
            if arguments.production:
                result.update(drain(stage, arguments))
            result["cpu_ms"] = cpu_per_unit(before, cpu_seconds_by_role(), result)
        for name, pattern in (("next_task", r"/next/$"), ("submit", r"/answer/$")):
            times = server_times(folder, pattern)
            result[f"server_{name}_p50_ms"] = round(statistics.median(times), 2) if times else None
            result[f"server_{name}_p99_ms"] = round(percentile(times, 0.99), 2)
        from labeling.models import Answer

        result["answers_stored"] = Answer.objects.count()
        result["bytes_per_row"] = bytes_per_row()
    print(json.dumps(result))


def cpu_per_unit(before: dict[str, float], after: dict[str, float], result: dict) -> dict[str, float]:
    """CPU milliseconds per request served (web, PostgreSQL) and per consensus (Celery), over the
    load and, in production mode, the drain that followed it."""
    requests_served = result["requests_per_s"] * result["seconds"]
    used = {role: (after[role] - before[role]) * 1000 for role in before}
    figures = {"web_per_request": round(used["web"] / requests_served, 2),
               "postgres_per_request": round(used["postgres"] / requests_served, 2)}
    if result.get("consensus_completed"):
        figures["celery_per_consensus"] = round(used["celery"] / result["consensus_completed"], 2)
    return figures


def bytes_per_row() -> dict[str, float]:
    """Table + index + TOAST bytes per row of the tables that grow with items and answers: what a
    capacity estimate multiplies (docs/scaling.md). Vacuumed first so dead tuples do not count."""
    from django.db import connection

    tables = ["labeling_item", "labeling_task", "labeling_assignment", "labeling_answer", "labeling_consensus",
              "labeling_routingdecision", "labeling_auditevent"]
    sizes = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM {table}")
            cursor.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")
            rows, size = cursor.fetchone()
            if rows:
                sizes[table] = round(size / rows, 1)
    return sizes


def populate(item_count: int, worker_count: int):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from cardiocrowd.accounts.models import Membership
    from cardiocrowd.accounts.services import create_project
    from cardiocrowd.imaging.models import Study
    from labeling.design import save_schema_version
    from labeling.models import Stage
    from labeling.templates import TEMPLATES

    project = create_project(slug="bench", name="bench")
    schema = save_schema_version(project=project, name="views", user=None,
                                 definition=TEMPLATES["echo-view-classification"]["schema"])
    stage = Stage.objects.create(project=project, name="views", position=1, schema=schema, redundancy=3,
                                 max_redundancy=3)
    study = Study.objects.create(project=project, study_uid="2.25.1", patient_pseudonym="CCBENCH")
    started = time.perf_counter()
    with connection.cursor() as cursor:  # set-based inserts: a million rows in seconds, not minutes
        cursor.execute("INSERT INTO labeling_item (project_id, study_id, status, created_at) "
                       "SELECT %s, %s, 'in_progress', now() FROM generate_series(1, %s)",
                       [project.pk, study.pk, item_count])
        cursor.execute("INSERT INTO labeling_task (stage_id, item_id, kind, state, priority, open_slots, "
                       "target_answers, answer_count, round, created_at) SELECT %s, id, 'normal', 'open', random(), "
                       "%s, %s, 0, 1, now() FROM labeling_item WHERE project_id = %s",
                       [stage.pk, stage.redundancy, stage.redundancy, project.pk])
        # Settle the bulk load as a live table would be: otherwise autovacuum's first pass over a
        # million fresh rows, and the checkpoint writing them out, run during the measurement.
        cursor.execute("VACUUM (ANALYZE) labeling_item")
        cursor.execute("VACUUM (ANALYZE) labeling_task")
        cursor.execute("CHECKPOINT")  # superuser or pg_checkpoint, as the machine's postgres user is
    print(f"queued {item_count} items in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"worker{n}") for n in range(worker_count)])
    Membership.objects.bulk_create([Membership(project=project, user=user, role="crowd") for user in users])
    tokens = [Token.objects.create(user=user).key for user in users]
    return stage.pk, tokens


def drive(url: str, stage_id: int, tokens: list[str], arguments: argparse.Namespace) -> dict:
    next_times, submit_times, acknowledged = [], [], set()
    errors = []
    deadline = time.monotonic() + arguments.seconds
    lock = threading.Lock()

    def worker(token: str, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as session:
            session.headers["Authorization"] = f"Token {token}"
            time.sleep(rng.uniform(0, arguments.think_ms / 1000))  # do not start all at once
            while time.monotonic() < deadline:
                began = time.perf_counter()
                try:
                    response = session.post(f"{url}/api/projects/bench/stages/{stage_id}/next/")
                except requests.RequestException as error:
                    errors.append(f"next {type(error).__name__}")
                    continue
                elapsed = (time.perf_counter() - began) * 1000
                if response.status_code == 204:
                    return
                if response.status_code != 200:
                    errors.append(f"next {response.status_code}")
                    continue
                assignment = response.json()["assignment"]
                time.sleep(rng.uniform(0.5, 1.5) * arguments.think_ms / 1000)
                began = time.perf_counter()
                try:
                    answer = session.post(f"{url}/api/assignments/{assignment}/answer/", json={"value": ANSWER})
                except requests.RequestException as error:
                    errors.append(f"answer {type(error).__name__}")
                    continue
                submitted = (time.perf_counter() - began) * 1000
                with lock:
                    next_times.append(elapsed)
                    submit_times.append(submitted)
                    if answer.status_code in (200, 201):
                        acknowledged.add(answer.json()["id"])
                    else:
                        errors.append(f"answer {answer.status_code}")

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(token, n)) for n, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "items": arguments.items, "workers": arguments.workers, "seconds": round(elapsed, 1),
        "think_ms": arguments.think_ms,
        "requests_per_s": round((len(next_times) + len(submit_times)) / elapsed, 1),
        "next_task_p50_ms": round(statistics.median(next_times), 2) if next_times else None,
        "next_task_p99_ms": round(percentile(next_times, 0.99), 2),
        "submit_p50_ms": round(statistics.median(submit_times), 2) if submit_times else None,
        "submit_p99_ms": round(percentile(submit_times, 0.99), 2),
        "errors": len(errors), "error_kinds": dict(Counter(errors)), "answers_acknowledged": len(acknowledged),
    }


def drain(stage_id: int, arguments: argparse.Namespace) -> dict:
    """Wait for the workers to aggregate every task the load completed (a consensus and a routing
    decision each); what is left after `--drain-seconds` is reported as pending."""
    from labeling.models import Consensus, Task

    began = time.monotonic()
    completed = Task.objects.filter(stage_id=stage_id, state=Task.State.COMPLETE)
    pending_after_load = pending = completed.filter(routing_decisions__isnull=True).count()
    while pending and time.monotonic() - began < arguments.drain_seconds:
        time.sleep(0.5)
        pending = completed.filter(routing_decisions__isnull=True).count()
    return {
        "production": True, "celery_workers": arguments.celery_workers, "tasks_completed": completed.count(),
        "consensus_pending_after_load": pending_after_load,  # how far aggregation lags behind the answers
        "consensus_completed": Consensus.objects.filter(task__stage_id=stage_id).count(),
        "consensus_pending": pending, "drain_seconds": round(time.monotonic() - began, 1),
        "aggregations_queued": queue_state(os.environ["CELERY_DEFAULT_QUEUE"])[0],
    }


if __name__ == "__main__":
    main()
