"""gunicorn settings for the platform, shared by deployments, the demo and the benchmarks:

    gunicorn -c python:cardiocrowd.gunicorn_conf cardiocrowd.wsgi --bind 0.0.0.0:8000

WEB_PROCESSES and WEB_THREADS size it (default 3 × 8, for a 2-core machine)."""
import gc
import os
from pathlib import Path

workers = int(os.environ.get("WEB_PROCESSES", "3"))
threads = int(os.environ.get("WEB_THREADS", "8"))
worker_class = "gthread"
backlog = 512
# An idle keep-alive connection is closed by the client (or the proxy: nginx keeps upstream ones 60 s)
# before gunicorn closes it. With gunicorn's 2 s, a request sent on a connection gunicorn was closing
# failed with "connection reset" under load (tests/benchmarks/bench_assignment.py --production).
keepalive = 75
preload_app = True  # load Django once in the master; workers share its memory pages

if os.environ.get("LOG_FORMAT") == "json":
    # gunicorn's own records (start, worker exits, timeouts) as JSON lines, like the platform's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cardiocrowd.operations.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
                    # No access lines: /metrics has the request figures, and paths carry ids and queries.
                    "gunicorn.access": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
    }


def when_ready(server) -> None:
    """In the master, before the workers fork: import every view (the URL patterns pull in DRF,
    numpy, Pillow…) so no user's first request pays for it, then keep everything built at
    start-up, which lives as long as the process, out of the cyclic garbage collector."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
    gc.freeze()


def on_starting(server) -> None:
    """Metrics files of a previous run would be summed with this one's: start from an empty folder."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def child_exit(server, worker) -> None:
    """A web process that exits leaves its counters to the sum; its live gauges go with it."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, folder)
