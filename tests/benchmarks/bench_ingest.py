"""Ingest throughput from a DICOMweb PACS, and WADO-RS frame latency of a 120-frame echo cine.

    python tests/benchmarks/bench_ingest.py [--frames-per-position 300] [--worker-processes 2]

Self-contained: starts its own Orthanc (Debian packages orthanc, orthanc-dicomweb), a fresh
database on the PostgreSQL at BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432) and
its own Celery worker (one process per core) on the machine's RabbitMQ, on a queue of its own.
It pulls Sunnybrook cardiac MR and the echo cine from Orthanc through dicomweb-client,
de-identifying on the way in — once through the worker pool, as the platform imports
(`ingest_instances_per_s`), and once more in this one process for comparison — then serves
frames through gunicorn (2 workers × 4 threads) to a crowd worker holding the echo's item and
times them over HTTP keep-alive, first, middle and last frame interleaved. The last line printed
is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
from common import REPOSITORY, fresh_platform, percentile, running_gunicorn, token_of_crowd_worker_holding

from tests.orthanc import OrthancServer

DATA = Path(os.environ.get("CARDIOCROWD_SHARED_DATA", REPOSITORY.parent / "shared" / "data")) / "dicom"
ECHO = DATA / "pydicom-data" / "color3d_jpeg_baseline.dcm"
SUNNYBROOK = sorted((DATA / "sunnybrook" / "dicoms").rglob("*.dcm"))
ECHO_BANNER = {"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames-per-position", type=int, default=300)
    parser.add_argument("--worker-processes", type=int, default=os.cpu_count() or 2)
    arguments = parser.parse_args()

    orthanc = OrthancServer().start()
    try:
        orthanc.upload(*SUNNYBROOK, ECHO)
        with fresh_platform("bench-ingest") as folder:
            result = measure(orthanc, arguments, folder)
    finally:
        orthanc.stop()
    print(json.dumps(result))


def start_worker(folder: Path, processes: int) -> tuple[subprocess.Popen, str]:
    queue = os.environ["CELERY_DEFAULT_QUEUE"]
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cardiocrowd", "worker", "-Q", queue, "--concurrency",
         str(processes), "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=REPOSITORY, env=os.environ.copy(), stdout=open(folder / "worker.log", "wb"), stderr=subprocess.STDOUT)
    return process, queue


def wait_for_worker(queue: str) -> None:
    from cardiocrowd.celery import app

    for _ in range(300):
        if any(queue in [q["name"] for q in queues] for queues in (app.control.inspect(timeout=0.5).active_queues()
                                                                       or {}).values()):
            return
        time.sleep(0.1)
    raise RuntimeError("the Celery worker did not start")


def measure(orthanc: OrthancServer, arguments: argparse.Namespace, folder: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from cardiocrowd.accounts.services import create_project
    from cardiocrowd.imaging import services
    from cardiocrowd.imaging.models import ImportJob, Instance

    admin = get_user_model().objects.create_user("bench-admin")
    client = services.dicomweb_client(url=orthanc.dicomweb_url)
    parameters = {"url": orthanc.dicomweb_url,
                  "study_uids": [s["0020000D"]["Value"][0] for s in client.search_for_studies()]}

    def new_project(slug: str):
        return create_project(slug=slug, name=slug, creator=admin, burned_in_policy="mask",
                              pixel_mask_rules=[ECHO_BANNER])

    # Through the worker pool, as the platform runs an import (started and idle before the clock starts).
    worker, queue = start_worker(folder, arguments.worker_processes)
    try:
        wait_for_worker(queue)
        project = new_project("bench")
        started = time.perf_counter()
        with transaction.atomic():
            job = services.create_import_job(project=project, kind=ImportJob.Kind.DICOMWEB, user=admin,
                                             parameters=parameters)
        while ImportJob.objects.get(pk=job.pk).status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
            time.sleep(0.02)
        pool_seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait()
    job = services.with_progress(ImportJob.objects.filter(pk=job.pk)).get()
    assert job.status == "succeeded" and job.refused == 0, (job.status, job.failure_reason)

    # The same pull in this one process, for the side-by-side figure.
    single = services.create_import_job(project=new_project("bench-single"), kind=ImportJob.Kind.DICOMWEB,
                                        user=admin, parameters=parameters, enqueue=False)
    started = time.perf_counter()
    single = services.run_import_job(job_id=single.pk)
    single_seconds = time.perf_counter() - started
    assert single.imported == job.imported

    # Frames are timed as a crowd worker holding the echo's item: the role whose check costs most.
    echo = Instance.objects.select_related("series__study").get(project=project, number_of_frames=120)
    token = token_of_crowd_worker_holding(echo, admin)
    positions = {"first": 1, "middle": 60, "last": 120}
    timings: dict[str, list[float]] = {name: [] for name in positions}
    with running_gunicorn(folder, workers=2, threads=4) as url, requests.Session() as session:
        frame_url = (f"{url}/dicomweb/bench/studies/{echo.series.study.study_uid}/series/{echo.series.series_uid}"
                     f"/instances/{echo.sop_instance_uid}/frames/")
        session.headers.update({"Authorization": f"Token {token}",
                                "Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'})
        for _ in range(20):  # warm up connections and worker processes
            session.get(frame_url + "1").raise_for_status()
        for _ in range(arguments.frames_per_position):
            for name, number in positions.items():  # interleaved, so machine noise hits all three alike
                began = time.perf_counter()
                response = session.get(frame_url + str(number))
                timings[name].append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
    return {
        "ingest_instances": job.imported,
        "ingest_worker_processes": arguments.worker_processes,
        "ingest_seconds": round(pool_seconds, 3),
        "ingest_instances_per_s": round(job.imported / pool_seconds, 1),
        "ingest_single_process_instances_per_s": round(single.imported / single_seconds, 1),
        "frame_requests_per_position": arguments.frames_per_position,
        "frame_p50_ms": {name: round(statistics.median(values), 2) for name, values in timings.items()},
        "frame_p99_ms": {name: round(percentile(values, 0.99), 2) for name, values in timings.items()},
    }


if __name__ == "__main__":
    main()
