"""Request id, request latency, and the operations endpoints served ahead of the rest of the stack."""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import resolve

from .logs import current_request_id
from .metrics import REQUEST_DURATION
from .urls import OPERATIONS_PATHS

# An incoming id is kept only if it is short and plain: it goes into every log line of the request.
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestIdMiddleware:
    """Honours an incoming X-Request-ID (a proxy's) or makes one; logs and the response carry it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if INCOMING_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestMetricsMiddleware:
    """Request latency by URL pattern name (never the raw path: ids in paths would make a time
    series per item), method and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_DURATION.labels(view=view_label(request), method=method_label(request.method),
                                status=str(response.status_code)).observe(time.perf_counter() - started)
        return response


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"  # 404s for made-up paths, and requests refused before routing
    return match.view_name or match.route


def method_label(method: str | None) -> str:
    return method if method in KNOWN_METHODS else "other"


class OperationsEndpointsMiddleware:
    """Serves /healthz, /readyz and /metrics before host validation, sessions and CSRF: probes and
    scrapers reach a pod by its IP address, which ALLOWED_HOSTS rightly refuses for everything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in OPERATIONS_PATHS:
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
