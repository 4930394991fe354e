"""Structured logs: with LOG_FORMAT=json every record is one JSON object on one line (time, level,
logger, message, the request or task it belongs to, and the record's extra fields).

Records carry identifiers, never request bodies: answers, uploads and passwords stay out of logs."""
from __future__ import annotations

import logging
from contextvars import ContextVar

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# Set for the duration of a web request (RequestIdMiddleware) or a Celery task (operations.worker).
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
current_task: ContextVar[tuple[str, str] | None] = ContextVar("current_task", default=None)  # (id, name)


class ContextFilter(logging.Filter):
    """Adds request_id, task_id and task_name to the records logged while they are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs 4xx and 5xx responses after the middleware has returned: their records carry the request.
        request_id = current_request_id.get() or getattr(getattr(record, "request", None), "request_id", None)
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        task = current_task.get()
        if task is not None and not hasattr(record, "task_id"):
            record.task_id, record.task_name = task
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}", style="{", timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
            # Django attaches the request object to its error records; its text repeats the query
            # string, and the request id already ties the line to the request.
            reserved_attrs=[*RESERVED_ATTRS, "request"])
