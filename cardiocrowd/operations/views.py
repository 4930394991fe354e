"""Plain Django views: no session, no DRF authentication, nothing that touches the database except
the readiness check itself. None of them says anything about patients, users or secrets."""
from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from . import health
from .metrics import exposition


@never_cache
@require_safe
def liveness(request: HttpRequest) -> HttpResponse:
    """The process answers: nothing else is checked, so a database outage never restarts web pods."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readiness(request: HttpRequest) -> HttpResponse:
    results = health.run_readiness_checks()
    failed = [result.name for result in results if not result.is_ok]
    body = {"status": "unavailable" if failed else "ok",
            "checks": {result.name: result.as_json() for result in results}}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if settings.METRICS_TOKEN:
        if not has_metrics_token(request, settings.METRICS_TOKEN):
            response = HttpResponse("A bearer token is needed.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not is_internal_address(request.META.get("REMOTE_ADDR", "")):
        return HttpResponse("Metrics are served to internal addresses only.\n", status=403, content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def has_metrics_token(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def is_internal_address(address: str) -> bool:
    """Loopback or a private network (a Prometheus in the cluster). Behind a reverse proxy every
    request looks internal: production sets METRICS_TOKEN or keeps /metrics off the public route."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private
