from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from cfg.catalog import MODULES
from cfg.environment import Environment
from cfg.middleware import place_middleware
from cfg.models.core import CoreConfig

# Unfold's apps must come before django.contrib.admin so that its templates win.
ADMIN_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.constance",
    "django.contrib.admin",
]
DJANGO_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "constance",
    "import_export",
    "axes",
]
# Installed in development and tests where importable: requirements/local.txt has it, the production image does not.
DEVELOPMENT_APPS = ["django_extensions"]


def apps_settings(config: CoreConfig) -> dict[str, Any]:
    """INSTALLED_APPS, MIDDLEWARE, URL mounts and readiness checks, from the catalog
    (cfg.catalog) and the project's own apps; only enabled apps get URLs and checks."""
    installed = config.installed_app_specs()
    enabled = config.enabled_app_specs()
    local_apps = ["cfg"] + [spec.app for spec in (*MODULES, *installed) if spec.django_app]
    app_middleware = [entry for spec in (*MODULES, *installed) for entry in spec.middleware]
    # Clashes (a check name, a middleware) are refused when the config loads (CoreConfig.app_violations).
    checks = {name: path for spec in enabled for name, path in spec.checks.items()}
    return {
        "ENABLED_APPS": [spec.name for spec in enabled],
        "INSTALLED_APPS": ADMIN_APPS + DJANGO_APPS + THIRD_PARTY_APPS + development_apps(config) + local_apps,
        "MIDDLEWARE": place_middleware([*app_middleware, *config.project_middleware]),
        "URL_MOUNTS": [(spec.url_prefix, spec.urls) for spec in (*MODULES, *enabled) if spec.urls],
        "HEALTH_CHECKS": checks,
    }


def development_apps(config: CoreConfig) -> list[str]:
    if config.env not in (Environment.DEVELOPMENT, Environment.TEST):
        return []
    return [name for name in DEVELOPMENT_APPS if importlib.util.find_spec(name) is not None]


def app_settings(config: CoreConfig) -> list[tuple[str, dict[str, Any]]]:
    """Each installed app's own settings contribution, by the app's name."""
    return [
        (f"app {spec.name}", import_attribute(spec.settings)(config))
        for spec in config.installed_app_specs()
        if spec.settings
    ]


def import_attribute(dotted: str) -> Callable[[CoreConfig], dict[str, Any]]:
    module, _, attribute = dotted.rpartition(".")
    function: Callable[[CoreConfig], dict[str, Any]] = getattr(importlib.import_module(module), attribute)
    return function
