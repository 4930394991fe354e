"""The platform's Prometheus metrics (listed with their meaning in docs/operations.md).

Counters and the request histogram are kept by the process that counts. Under gunicorn (several
processes) and prefork Celery workers, PROMETHEUS_MULTIPROC_DIR makes prometheus_client keep them
in files that every process of the server writes and /metrics sums. Figures about the whole
platform (queue depths, answers in the last minute, training runs by status) are read at scrape
time from the broker and the database instead, so every replica reports the same values."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Buckets from a fast JSON answer (a few ms) to a slow DICOM upload or export (tens of seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUEST_DURATION = Histogram(
    "cardiocrowd_http_request_duration_seconds",
    "Time from request to response (to the first byte of a streamed one), by URL pattern name, method and status.",
    ["view", "method", "status"], buckets=LATENCY_BUCKETS)
TASKS_SERVED = Counter(
    "cardiocrowd_tasks_served", "New leases handed to workers by the next-task path, by task kind.", ["kind"])
ANSWERS_STORED = Counter(
    "cardiocrowd_answers_stored", "Answers, skips and verdicts stored (retried submits not counted), by task kind.",
    ["kind"])
SCRAPE_ERRORS = Counter(
    "cardiocrowd_metrics_scrape_errors",
    "Scrape-time figures that could not be read (their metric is absent from that scrape), by source.", ["source"])
CELERY_TASKS = Counter(
    "cardiocrowd_celery_tasks", "Celery task executions that ended, by task name and outcome "
    "(succeeded, failed, retried).", ["task", "outcome"])
TRAINING_RUNS_FINISHED = Counter(
    "cardiocrowd_training_runs_finished", "Training, pretraining and scoring runs a worker finished, by kind "
    "and outcome (succeeded, failed, cancelled).", ["kind", "outcome"])


def monitored_queues() -> list[str]:
    """The Celery queues whose depth is reported: the CPU queue, consensus queues and training queue."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CONSENSUS_QUEUE, settings.CONSENSUS_GPU_QUEUE,
             settings.TRAINING_QUEUE]
    return list(dict.fromkeys(name for name in names if name))


def queue_depths(queues: list[str]) -> dict[str, int]:
    """Messages ready in each queue (passive declare: a queue that does not exist is not created).
    A queue that cannot be read is left out and counted as a scrape error."""
    from cardiocrowd.celery import app

    from .health import CHECK_TIMEOUT_SECONDS

    depths = {}
    try:
        with app.connection_for_read(url=settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT_SECONDS) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS)
            for queue in queues:
                # A failed declare closes its channel (AMQP 404): each queue gets a channel of its own.
                try:
                    with broker.channel() as channel:
                        depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception as error:  # a scrape must answer whatever one queue does
                    _scrape_failed("queue_depth", error)
    except Exception as error:
        _scrape_failed("broker", error)
    return depths


class PlatformCollector(Collector):
    """Figures read at scrape time from the database and the broker."""

    def collect(self) -> Iterator[Metric]:
        from labeling.models import Answer
        from training.models import TrainingRun

        depths = queue_depths(monitored_queues())
        if depths:
            queue_depth = GaugeMetricFamily("cardiocrowd_queue_depth", "Messages waiting in each Celery queue.",
                                            labels=["queue"])
            for queue, depth in depths.items():
                queue_depth.add_metric([queue], depth)
            yield queue_depth
        try:
            recent = Answer.objects.filter(created_at__gte=timezone.now() - timedelta(minutes=1)).count()
            counted = TrainingRun.objects.order_by().values_list("status").annotate(count=Count("id"))
            by_status = {**dict.fromkeys(TrainingRun.Status.values, 0), **dict(counted)}
        except Exception as error:
            _scrape_failed("database", error)
            return
        yield GaugeMetricFamily("cardiocrowd_answers_last_minute", "Answers stored in the last 60 seconds "
                                "(all replicas; rate(cardiocrowd_answers_stored_total) is the per-process view).",
                                value=recent)
        runs = GaugeMetricFamily("cardiocrowd_training_runs", "Training runs by status.", labels=["status"])
        for status, count in by_status.items():
            runs.add_metric([status], count)
        yield runs


def _scrape_failed(source: str, error: Exception) -> None:
    logger.warning("metrics: %s could not be read: %r", source, error)
    SCRAPE_ERRORS.labels(source=source).inc()


def exposition() -> bytes:
    """The text /metrics serves: the platform's scrape-time figures, then the counters and
    histograms of this process (or, in multiprocess mode, of all processes of this server)."""
    registry = CollectorRegistry()
    registry.register(PlatformCollector())
    if settings.PROMETHEUS_MULTIPROC_DIR:
        MultiProcessCollector(registry, settings.PROMETHEUS_MULTIPROC_DIR)
        return generate_latest(registry)
    platform = generate_latest(registry)  # first: its scrape errors are counted in this very scrape
    return platform + generate_latest(REGISTRY)


def worker_registry() -> CollectorRegistry:
    """What a Celery worker's metrics port serves: its task counters (every pool process's in
    multiprocess mode). Platform figures come from the web's /metrics only."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, settings.PROMETHEUS_MULTIPROC_DIR)
        return registry
    return REGISTRY
