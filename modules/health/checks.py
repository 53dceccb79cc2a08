"""Readiness checks: each returns (ok, detail) and is timed by run_readiness_checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

Check = Callable[[], str]


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_cache() -> str:
    key = f"readyz:{uuid.uuid4().hex}"
    # The Redis cache ignores its own errors by design; a failed round trip shows up here.
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("a value written to the cache could not be read back")
    cache.delete(key)
    return "ok"


def check_redis() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_migrations() -> str:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} migration(s) not applied; run python manage.py migrate")
    return "ok"


def readiness_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {"database": check_database, "cache": check_cache}
    if getattr(settings, "REDIS_URL", None):
        checks["redis"] = check_redis
    checks["migrations"] = check_migrations
    checks.update(extra_checks())
    return checks


def extra_checks() -> dict[str, Check]:
    """Checks that apps contribute through the HEALTH_CHECKS setting (name -> dotted path)."""
    from django.utils.module_loading import import_string

    return {name: import_string(path) for name, path in getattr(settings, "HEALTH_CHECKS", {}).items()}


def run_readiness_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in readiness_checks().items():
        started = time.perf_counter()
        try:
            detail = check()
            status = "ok"
        except Exception as error:  # a readiness probe reports every failure, it never raises
            status, detail = "error", f"{type(error).__name__}: {error}"
        results[name] = {"status": status, "ms": round((time.perf_counter() - started) * 1000, 2), "detail": detail}
    return all(result["status"] == "ok" for result in results.values()), results
