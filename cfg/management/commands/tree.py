from __future__ import annotations

from typing import IO, Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import URLPattern, URLResolver, get_resolver
from rich.console import Console
from rich.tree import Tree

from cfg.catalog import BUILTIN_APPS, MODULES


def _url_prefixes() -> list[tuple[str, str]]:
    rows = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            target = getattr(entry.urlconf_name, "__name__", None) or entry.app_name or str(entry.urlconf_name)
            rows.append((f"/{entry.pattern}", f"include {target}"))
        elif isinstance(entry, URLPattern):
            rows.append((f"/{entry.pattern}", entry.name or entry.lookup_str))
    return rows


def _app_state(name: str, always_installed: bool) -> str:
    if name in settings.ENABLED_APPS:
        return "enabled"
    return "installed (API off)" if always_installed else "off"


class Command(BaseCommand):
    help = "Show the project's shape: apps (built-in and the project's own), modules, URL prefixes, databases."

    def handle(self, *args: Any, **options: Any) -> None:
        root = Tree(f"[bold]{settings.PROJECT_NAME}[/] ({settings.ENVIRONMENT})")
        apps = root.add("apps")
        builtin = {spec.name for spec in BUILTIN_APPS}
        for spec in BUILTIN_APPS:
            apps.add(f"{spec.name}: {_app_state(spec.name, spec.always_installed)}")
        for name in settings.ENABLED_APPS:
            if name not in builtin:
                apps.add(f"{name}: enabled (project)")
        modules = root.add("modules")
        for spec in MODULES:
            modules.add(spec.name if spec.django_app else f"{spec.name} (package)")
        urls = root.add("urls")
        for prefix, target in _url_prefixes():
            urls.add(f"{prefix}  →  {target}")
        checks = root.add("readiness checks of apps")
        for name, path in settings.HEALTH_CHECKS.items():
            checks.add(f"{name}  →  {path}")
        databases = root.add("databases")
        for alias, database in settings.DATABASES.items():
            engine = database["ENGINE"].rsplit(".", 1)[-1]
            where = "embedded" if database["ENGINE"].startswith("cfg.db") else database.get("HOST") or "local socket"
            routed = [label for label, target in settings.DATABASE_APPS_MAPPING.items() if target == alias]
            suffix = f", apps: {', '.join(routed)}" if routed else ""
            databases.add(f"{alias}: {database['NAME']} ({engine}, {where}{suffix})")
        Console(file=cast(IO[str], self.stdout), width=120).print(root)
