"""How an app or module plugs into the project: one AppSpec per app, named by strings and imported only when used."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from cfg.models.base import ConfigModel, split_commas
from cfg.models.tasks import PeriodicTaskConfig
from cfg.models.unfold import NavigationItem

DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
NAME = re.compile(r"[a-z][a-z0-9_]*")


def _dotted(value: str, *, what: str, example: str) -> str:
    if value and not DOTTED.fullmatch(value):
        raise ValueError(f"{value!r} is not a dotted Python path; name the {what}, e.g. {example}")
    return value


class MiddlewareSpec(ConfigModel):
    path: str
    """Dotted path of the middleware class"""
    after: str = ""
    """Place it right after this middleware; empty places it last"""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """A plain string is a middleware placed last."""
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path", "after")
    @classmethod
    def _is_dotted(cls, value: str) -> str:
        return _dotted(value, what="middleware class", example="apps.billing.middleware.SeatMiddleware")


MiddlewareList = Annotated[tuple[MiddlewareSpec, ...], BeforeValidator(split_commas)]


class AppSpec(ConfigModel):
    """Everything the project needs to know to wire an app in: cfg generates INSTALLED_APPS, MIDDLEWARE, the URL
    mounts, the /readyz checks, the admin navigation and dashboard, and the app's settings from it."""

    app: str
    """Dotted path of the package, e.g. apps.billing"""
    name: str = ""
    """Short name used in ENABLED_APPS, /readyz, info and requires; defaults to the package's last part"""
    title: str = ""
    """Shown in the admin navigation and in info; defaults to the name, capitalised"""
    url_prefix: str = ""
    """Where its urls module is mounted, e.g. api/billing/ (no leading slash)"""
    urls: str = ""
    """Dotted path of its urls module; empty: no URLs"""
    middleware: MiddlewareList = ()
    settings: str = ""
    """Dotted path of a function (config) -> dict of the settings it adds; keys must be new"""
    checks: dict[str, str] = Field(default_factory=dict)
    """Readiness checks for /readyz: name -> dotted path of a function that returns a detail or raises"""
    navigation: tuple[NavigationItem, ...] = ()
    """Admin sidebar entries (title, link, icon, group)"""
    dashboard: tuple[str, ...] = ()
    """Admin dashboard cards: dotted paths of functions (request) -> list of cards (modules.unfold.dashboard)"""
    requires: tuple[str, ...] = ()
    """Names of the apps it needs enabled"""
    django_app: bool = True
    """False for a plain package that Django need not install (no models, templates or commands)"""
    always_installed: bool = False
    """Installed even when switched off (it holds the user model); the switch then turns off its URLs, checks
    and navigation"""
    provides: dict[str, str] = Field(default_factory=dict)
    """Objects the core settings plug in by role (task_backend, exception_handler, ...): role -> dotted path"""
    periodic: dict[str, PeriodicTaskConfig] = Field(default_factory=dict)
    """Cron schedules the app needs (the worker's timer runs them); TASKS__PERIODIC replaces one by its name"""

    @model_validator(mode="before")
    @classmethod
    def _shorthand_and_default_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"app": value}
        if isinstance(value, dict) and not value.get("name") and isinstance(value.get("app"), str):
            value = {**value, "name": value["app"].rsplit(".", 1)[-1]}
        return value

    @field_validator("app", "urls", "settings")
    @classmethod
    def _is_dotted(cls, value: str) -> str:
        return _dotted(value, what="module", example="apps.billing.urls")

    @field_validator("name")
    @classmethod
    def _is_a_name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a lower-case name; use letters, digits and underscores, e.g. billing")
        return value

    @field_validator("url_prefix")
    @classmethod
    def _relative_prefix(cls, value: str) -> str:
        if value and (value.startswith("/") or not value.endswith("/")):
            raise ValueError(f"{value!r} must be relative and end with a slash, e.g. api/billing/")
        return value

    @field_validator("checks", "provides")
    @classmethod
    def _dotted_values(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value.values():
            _dotted(path, what="function", example="apps.billing.health.check_ledger")
        return value

    @field_validator("dashboard")
    @classmethod
    def _dotted_cards(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path:
                raise ValueError("an empty path; name the function, e.g. apps.billing.dashboard.invoice_cards")
            _dotted(path, what="function", example="apps.billing.dashboard.invoice_cards")
        return value

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()


# PROJECT_APPS=apps.billing,apps.crm or a JSON list of specs.
AppList = Annotated[tuple[AppSpec, ...], BeforeValidator(split_commas)]
