"""info: what this deployment is and whether the services it is configured for answer."""

from __future__ import annotations

import json
import pkgutil
import platform
import smtplib
import time
import tomllib
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit, urlunsplit

import django
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

TIMEOUT = 3  # seconds, for each service

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def project_version(base_dir: Path) -> str:
    try:
        with (base_dir / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def masked_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def check_database() -> str:
    from django.db import DEFAULT_DB_ALIAS, connections

    connection = connections[DEFAULT_DB_ALIAS]
    connection.settings_dict["OPTIONS"].setdefault("connect_timeout", TIMEOUT)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    host = connection.settings_dict.get("HOST") or "local socket"
    return f"PostgreSQL {version} at {host}, database {connection.settings_dict['NAME']}"


def check_redis(url: str) -> Callable[[], str]:
    def check() -> str:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        try:
            version = client.info("server").get("redis_version", "?")
        finally:
            client.close()
        return f"Redis {version} at {masked_url(url)}"

    return check


def default_mailer() -> dict[str, Any]:
    """Django 6.1's MAILERS['default']: BACKEND and OPTIONS."""
    return dict(getattr(settings, "MAILERS", {}).get("default", {}))


def check_smtp() -> str:
    options = default_mailer().get("OPTIONS", {})
    host, port = options.get("host", "localhost"), int(options.get("port", 25))
    kind = smtplib.SMTP_SSL if options.get("use_ssl") else smtplib.SMTP
    with kind(host, port, timeout=TIMEOUT) as server:
        code, _ = server.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code}")
    return f"SMTP at {host}:{port}"


def configured_services() -> dict[str, Callable[[], str] | str]:
    """Each service: a check to run, or a sentence saying why there is nothing to check."""
    services: dict[str, Callable[[], str] | str] = {"database": check_database}
    urls: dict[str, str] = {}
    if getattr(settings, "REDIS_URL", None):
        urls["redis"] = settings.REDIS_URL
    tasks_url = settings.TASKS.get("default", {}).get("OPTIONS", {}).get("redis_url")
    if tasks_url and tasks_url != urls.get("redis"):
        urls["redis (tasks)"] = tasks_url
    for name, url in urls.items():
        services[name] = check_redis(url)
    if not urls:
        services["redis"] = "not configured (REDIS_URL is empty)"
    backend = str(default_mailer().get("BACKEND", ""))
    if backend == SMTP_BACKEND:
        services["smtp"] = check_smtp
    else:
        services["smtp"] = f"not used (email backend {backend.rsplit('.', 2)[-2] if backend else 'none'})"
    return services


def probe(check: Callable[[], str] | str) -> dict[str, Any]:
    if isinstance(check, str):
        return {"status": "skipped", "detail": check}
    started = time.perf_counter()
    try:
        detail, status = check(), "ok"
    except Exception as error:  # a service that does not answer is reported, whatever the error
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        detail, status = f"{type(error).__name__}: {first_line}".rstrip(": "), "error"
    return {"status": status, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}


def modules_found() -> dict[str, bool]:
    """Every module package of the project, and whether it is installed as a Django app."""
    package_name = str(getattr(settings, "MODULES_PACKAGE", "modules"))
    package = import_module(package_name)
    installed = set(settings.INSTALLED_APPS)
    return {
        name: f"{package_name}.{name}" in installed
        for _, name, is_package in pkgutil.iter_modules(package.__path__)
        if is_package
    }


def collect() -> dict[str, Any]:
    from cfg.models.core import APP_NAMES

    enabled = list(getattr(settings, "ENABLED_APPS", []))
    return {
        "project": settings.PROJECT_NAME,
        "slug": settings.PROJECT_SLUG,
        "version": project_version(Path(settings.BASE_DIR)),
        "python": platform.python_version(),
        "django": django.get_version(),
        "environment": settings.ENVIRONMENT,
        "debug": settings.DEBUG,
        "apps": {name: name in enabled for name in APP_NAMES},
        "modules": modules_found(),
        "services": {name: probe(check) for name, check in configured_services().items()},
    }


class Command(BaseCommand):
    help = "Version, environment, enabled apps and modules, and whether each configured service answers."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        report = collect()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.print_report(report)
        failed = [name for name, result in report["services"].items() if result["status"] == "error"]
        if failed:
            raise CommandError(f"{len(failed)} configured service(s) did not answer: {', '.join(failed)}")

    def print_report(self, report: dict[str, Any]) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=cast(IO[str], self.stdout), highlight=False, soft_wrap=True)
        console.print(
            f"[bold]{report['project']}[/] ({report['slug']}) {report['version']}  "
            f"Python {report['python']}, Django {report['django']}"
        )
        console.print(f"environment: [bold]{report['environment']}[/]  debug: {report['debug']}")
        console.print("apps:    " + ", ".join(f"{n} {'on' if on else 'off'}" for n, on in report["apps"].items()))
        console.print(
            "modules: " + ", ".join(f"{n}{' (app)' if installed else ''}" for n, installed in report["modules"].items())
        )
        table = Table("service", "status", "detail", "ms", title="services")
        colours = {"ok": "green", "error": "red", "skipped": "dim"}
        for name, result in report["services"].items():
            status = result["status"]
            table.add_row(name, f"[{colours[status]}]{status}[/]", result["detail"], str(result.get("ms", "")))
        console.print(table)
