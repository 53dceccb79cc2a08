from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cfg.client_ip import client_ip
from modules.health.checks import run_readiness_checks


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O, so a slow database never restarts the web tier."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 503 while a check fails. The checks themselves (their errors name internal hosts and ports) are
    shown to the machine itself (container health checks, an operator's curl) and to signed-in staff only."""
    if may_see_details(request):
        ready, checks = run_readiness_checks()
        body: dict[str, Any] = {"status": "ok" if ready else "error", "environment": settings.ENVIRONMENT}
        body["checks"] = checks
    else:
        ready = public_readiness()
        body = {"status": "ok" if ready else "error"}
    return JsonResponse(body, status=200 if ready else 503)


# Anyone may ask, and the checks cost a round trip to each service: other callers share one answer per second per
# process, so a flood of /readyz costs the database and Redis nothing more.
PUBLIC_ANSWER_SECONDS = 1.0
_public_answer: tuple[float, bool] = (float("-inf"), False)


_checking = threading.Lock()


def public_readiness() -> bool:
    """The shared answer, checked again when it is a second old by one request only; the others meanwhile get the
    answer that is there."""
    global _public_answer
    checked_at, ready = _public_answer
    if time.monotonic() - checked_at < PUBLIC_ANSWER_SECONDS or not _checking.acquire(blocking=False):
        return ready
    try:
        ready, _ = run_readiness_checks()
        _public_answer = (time.monotonic(), ready)
    finally:
        _checking.release()
    return ready


def may_see_details(request: HttpRequest) -> bool:
    address = client_ip(request)
    if address is not None and ipaddress.ip_address(address).is_loopback:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)
