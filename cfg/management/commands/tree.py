from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import URLPattern, URLResolver, get_resolver


def _url_prefixes() -> list[tuple[str, str]]:
    rows = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            target = getattr(entry.urlconf_name, "__name__", None) or entry.app_name or str(entry.urlconf_name)
            rows.append((f"/{entry.pattern}", f"include {target}"))
        elif isinstance(entry, URLPattern):
            rows.append((f"/{entry.pattern}", entry.name or entry.lookup_str))
    return rows


class Command(BaseCommand):
    help = "Show the project's shape: enabled apps and modules, URL prefixes, databases."

    def handle(self, *args: Any, **options: Any) -> None:
        from rich.console import Console
        from rich.tree import Tree

        root = Tree(f"[bold]{settings.PROJECT_NAME}[/] ({settings.ENVIRONMENT})")
        enabled = set(settings.ENABLED_APPS)
        project_apps = root.add("apps")
        for config in apps.get_app_configs():
            if config.name.startswith("apps."):
                label = config.name.removeprefix("apps.")
                state = "enabled" if label in enabled else "installed (API off)"
                project_apps.add(f"{label}: {state}")
        modules_dir = settings.BASE_DIR / "modules"
        module_branch = root.add("modules")
        for path in sorted(modules_dir.iterdir()):
            if (path / "__init__.py").exists():
                module_branch.add(path.name)
        urls = root.add("urls")
        for prefix, target in _url_prefixes():
            urls.add(f"{prefix}  →  {target}")
        databases = root.add("databases")
        for alias, database in settings.DATABASES.items():
            engine = database["ENGINE"].rsplit(".", 1)[-1]
            where = "embedded" if database["ENGINE"].startswith("cfg.db") else database.get("HOST") or "local socket"
            routed = [label for label, target in settings.DATABASE_APPS_MAPPING.items() if target == alias]
            suffix = f", apps: {', '.join(routed)}" if routed else ""
            databases.add(f"{alias}: {database['NAME']} ({engine}, {where}{suffix})")
        Console(file=self.stdout, width=120).print(root)  # type: ignore[arg-type]
