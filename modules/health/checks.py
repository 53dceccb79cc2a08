"""Readiness: the services every deployment needs, then the checks of the enabled apps (HEALTH_CHECKS, generated
from the app catalog). The probes are cfg's, shared with `manage.py info`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from cfg.probes import Probe, probe_cache, probe_database, probe_migrations, redis_probe, timed


def readiness_checks() -> dict[str, Probe]:
    checks: dict[str, Probe] = {"database": probe_database, "cache": probe_cache}
    if getattr(settings, "REDIS_URL", None):
        checks["redis"] = redis_probe(settings.REDIS_URL)
    checks["migrations"] = probe_migrations
    checks.update({name: import_string(path) for name, path in settings.HEALTH_CHECKS.items()})
    return checks


def run_readiness_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    # Public endpoint: a success says "ok", never a version or a host.
    results = {name: timed(check, show_detail=False) for name, check in readiness_checks().items()}
    return all(result["status"] == "ok" for result in results.values()), results
