"""Probes of the services a deployment is configured for, shared by /readyz (modules.health) and `manage.py info`.

Each probe returns a one-line detail or raises; `timed` runs one and reports status, detail and milliseconds.
"""

from __future__ import annotations

import smtplib
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.mail import mailers
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from cfg.introspection import mask_url_password

Probe = Callable[[], str]
TIMEOUT = 3  # seconds, for each service
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def probe_database(alias: str = "default") -> str:
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    host = connection.settings_dict.get("HOST") or "local socket"
    version = row[0] if row else "?"
    return f"PostgreSQL {version} at {host}, database {connection.settings_dict['NAME']}"


def probe_cache() -> str:
    key = f"readyz:{uuid.uuid4().hex}"
    # The Redis cache ignores its own errors by design; a failed round trip shows up here.
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("a value written to the cache could not be read back")
    cache.delete(key)
    return "a value written was read back"


def redis_probe(url: str) -> Probe:
    def probe_redis() -> str:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        try:
            version = client.info("server").get("redis_version", "?")
        finally:
            client.close()
        return f"Redis {version} at {mask_url_password(url)}"

    return probe_redis


def probe_migrations(alias: str = "default") -> str:
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} migration(s) not applied; run python manage.py migrate")
    return "every migration is applied"


def default_mailer() -> dict[str, Any]:
    """Django 6.1's MAILERS['default']: BACKEND and OPTIONS."""
    return dict(getattr(settings, "MAILERS", {}).get("default", {}))


def probe_mailer(name: str | None = None) -> str:
    """Open a connection to the mailer and close it, sending nothing: for SMTP the connection, STARTTLS or SSL and
    the login a send makes, then a NOOP, within the mailer's timeout. Raises what a send would (an SMTPException or
    OSError) when the server is out; the other backends have nothing to reach."""
    connection = mailers[name] if name else mailers.default
    if not isinstance(connection, SmtpBackend):
        return "nothing to reach"  # console, locmem; opening the file backend would leave an empty file
    try:
        connection.open()
        smtp = connection.connection
        if smtp is None:  # open() swallowed its error: a mailer configured with fail_silently
            raise smtplib.SMTPServerDisconnected("could not connect to the mail server")
        code, message = smtp.noop()
        if code != 250:
            raise smtplib.SMTPResponseException(code, message)
    finally:
        connection.close()
    return f"SMTP at {connection.host}:{connection.port}"


def timed(probe: Probe, *, show_detail: bool = True) -> dict[str, Any]:
    """status ok or error, the detail (or the error's first line) and the time taken. Never raises: a service that
    does not answer is reported, whatever the error. Without show_detail, a success says only "ok" (for public
    endpoints: versions and hosts stay private)."""
    started = time.perf_counter()
    try:
        detail, status = probe(), "ok"
    except Exception as error:
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else ""
        detail, status = f"{type(error).__name__}: {first_line}".rstrip(": "), "error"
    if status == "ok" and not show_detail:
        detail = "ok"
    return {"status": status, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 2)}
