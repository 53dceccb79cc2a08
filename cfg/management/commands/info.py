"""info: what this deployment is and whether the services it is configured for answer."""

from __future__ import annotations

import json
import platform
import tomllib
from pathlib import Path
from typing import IO, Any, cast

import django
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from rich.console import Console
from rich.table import Table

from cfg.catalog import BUILTIN_APP_NAMES, MODULES
from cfg.probes import SMTP_BACKEND, TIMEOUT, Probe, default_mailer, probe_database, probe_mailer, redis_probe, timed


def project_version(base_dir: Path) -> str:
    try:
        with (base_dir / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def probe_database_quickly() -> str:
    # An unreachable server answers after TIMEOUT, not after the operating system's TCP timeout.
    connections[DEFAULT_DB_ALIAS].settings_dict["OPTIONS"].setdefault("connect_timeout", TIMEOUT)
    return probe_database()


def configured_services() -> dict[str, Probe | str]:
    """Each service: a check to run, or a sentence saying why there is nothing to check."""
    services: dict[str, Probe | str] = {"database": probe_database_quickly}
    urls: dict[str, str] = {}
    if getattr(settings, "REDIS_URL", None):
        urls["redis"] = settings.REDIS_URL
    tasks_url = settings.TASKS.get("default", {}).get("OPTIONS", {}).get("redis_url")
    if tasks_url and tasks_url != urls.get("redis"):
        urls["redis (tasks)"] = tasks_url
    for name, url in urls.items():
        services[name] = redis_probe(url)
    if not urls:
        services["redis"] = "not configured (REDIS_URL is empty)"
    backend = str(default_mailer().get("BACKEND", ""))
    if backend == SMTP_BACKEND:
        services["smtp"] = probe_mailer
    else:
        services["smtp"] = f"not used (email backend {backend.rsplit('.', 2)[-2] if backend else 'none'})"
    return services


def service_report(check: Probe | str) -> dict[str, Any]:
    if isinstance(check, str):
        return {"status": "skipped", "detail": check}
    return timed(check)


def apps_report() -> dict[str, bool]:
    """Every built-in app (on or off), then the project's own apps (always on)."""
    enabled = list(settings.ENABLED_APPS)
    return {**{name: name in enabled for name in BUILTIN_APP_NAMES}, **dict.fromkeys(enabled, True)}


def modules_report() -> dict[str, bool]:
    """Every module of the catalog, and whether it is installed as a Django app."""
    return {spec.name: spec.django_app for spec in MODULES}


def collect() -> dict[str, Any]:
    return {
        "project": settings.PROJECT_NAME,
        "slug": settings.PROJECT_SLUG,
        "version": project_version(Path(settings.BASE_DIR)),
        "python": platform.python_version(),
        "django": django.get_version(),
        "environment": settings.ENVIRONMENT,
        "debug": settings.DEBUG,
        "apps": apps_report(),
        "modules": modules_report(),
        "services": {name: service_report(check) for name, check in configured_services().items()},
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
