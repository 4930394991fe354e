"""WADO-RS frame latency inside the web process, from the local data folder or from object storage.

    python tests/benchmarks/bench_frames.py [--requests-per-position 300] [--storage filesystem|s3]

Ingests the 120-frame JPEG echo cine, gives a crowd worker its item, and times frame requests
through Django's request handling (token authentication, the viewer's access check, the ranged
read) without a network hop, first, middle and last frame interleaved: what changes with where the
frames are stored, and nothing else. `--storage s3` starts a Ceph RADOS Gateway on loopback
(tests/objectstore.py; Debian packages ceph-mon, ceph-osd, radosgw) and stores the instance there.
The last line printed is the JSON summary.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.bench_ingest import ECHO_BANNER  # noqa: E402
from tests.benchmarks.common import fresh_platform, percentile, token_of_crowd_worker_holding  # noqa: E402


def measure(arguments: argparse.Namespace) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from cardiocrowd.accounts.services import create_project
    from cardiocrowd.imaging.models import Instance
    from cardiocrowd.imaging.services import ingest_dataset
    from cardiocrowd.imaging.validation import read_part10
    from tests.conftest import ECHO_CINE

    admin = get_user_model().objects.create_user("bench-admin")
    project = create_project(slug="frames", name="frames", creator=admin, burned_in_policy="mask",
                             pixel_mask_rules=[ECHO_BANNER])
    ingest_dataset(project=project, dataset=read_part10(str(ECHO_CINE)))
    echo = Instance.objects.select_related("series__study").get(project=project)
    client = Client(HTTP_AUTHORIZATION=f"Token {token_of_crowd_worker_holding(echo, admin)}")
    frame_url = (f"/dicomweb/frames/studies/{echo.series.study.study_uid}/series/{echo.series.series_uid}"
                 f"/instances/{echo.sop_instance_uid}/frames/")
    accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    positions = {"first": 1, "middle": echo.number_of_frames // 2, "last": echo.number_of_frames}
    for _ in range(10):  # connections, caches and the first queries out of the way
        assert client.get(frame_url + "1", HTTP_ACCEPT=accept).status_code == 200
    timings: dict[str, list[float]] = {name: [] for name in positions}
    for _ in range(arguments.requests_per_position):
        for name, number in positions.items():
            started = time.perf_counter()
            response = client.get(frame_url + str(number), HTTP_ACCEPT=accept)
            timings[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:200]
    every = [value for values in timings.values() for value in values]
    return {
        "storage": arguments.storage, "frames": echo.number_of_frames, "file_bytes": echo.file_size,
        "requests_per_position": arguments.requests_per_position,
        "frame_p50_ms": {name: round(statistics.median(values), 2) for name, values in timings.items()},
        "frame_p99_ms": {name: round(percentile(values, 0.99), 2) for name, values in timings.items()},
        "all_p50_ms": round(statistics.median(every), 2), "all_p99_ms": round(percentile(every, 0.99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-per-position", type=int, default=300)
    parser.add_argument("--storage", choices=["filesystem", "s3"], default="filesystem")
    arguments = parser.parse_args()
    environment = {"DJANGO_ALLOWED_HOSTS": "testserver"}
    gateway = None
    if arguments.storage == "s3":
        from tests.objectstore import ObjectGateway

        gateway = ObjectGateway().start()
        environment.update(gateway.environment(bucket=gateway.new_bucket("bench-frames")))
    try:
        with fresh_platform("frames", **environment):
            print(json.dumps(measure(arguments)))
    finally:
        if gateway is not None:
            gateway.stop()


if __name__ == "__main__":
    main()
