"""The lazy registry: public names mapped to "module:attribute", imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from cfg.exceptions import RegistryError

REGISTRY: dict[str, dict[str, str]] = {
    "core": {
        "DjangoConfig": "cfg.config:DjangoConfig",
        "CoreConfig": "cfg.models.core:CoreConfig",
        "Environment": "cfg.environment:Environment",
        "detect_environment": "cfg.environment:detect_environment",
        "load_config": "cfg.loading:load_config",
        "generate_settings": "cfg.settings.compose:generate_settings",
    },
    "models": {
        "DatabaseConfig": "cfg.models.database:DatabaseConfig",
        "CacheConfig": "cfg.models.cache:CacheConfig",
        "SecurityConfig": "cfg.models.security:SecurityConfig",
        "EmailConfig": "cfg.models.email:EmailConfig",
        "TasksConfig": "cfg.models.tasks:TasksConfig",
        "ApiConfig": "cfg.models.api:ApiConfig",
        "LoggingConfig": "cfg.models.logging:LoggingConfig",
        "UnfoldConfig": "cfg.models.unfold:UnfoldConfig",
        "ConstanceConfig": "cfg.models.constance:ConstanceConfig",
        "ConstanceField": "cfg.models.constance:ConstanceField",
        "LlmConfig": "cfg.models.llm:LlmConfig",
        "TelegramConfig": "cfg.models.integrations:TelegramConfig",
        "TwilioConfig": "cfg.models.integrations:TwilioConfig",
        "NgrokConfig": "cfg.models.integrations:NgrokConfig",
        "AccountsConfig": "cfg.models.accounts:AccountsConfig",
        "PeriodicTaskConfig": "cfg.models.tasks:PeriodicTaskConfig",
        "AppSpec": "cfg.models.apps:AppSpec",
        "MiddlewareSpec": "cfg.models.apps:MiddlewareSpec",
        "NavigationItem": "cfg.models.unfold:NavigationItem",
    },
    "services": {
        "AppDatabaseRouter": "cfg.db.router:AppDatabaseRouter",
        "EmbeddedPostgres": "cfg.db.embedded:EmbeddedPostgres",
    },
    "third_party": {
        "ModelAdmin": "unfold.admin:ModelAdmin",
        "ImportExportModelAdmin": "import_export.admin:ImportExportModelAdmin",
        "constance_config": "constance:config",
    },
    "modules": {
        "get_logger": "modules.logger.loggers:get_logger",
        "JsonFormatter": "modules.logger.formatters:JsonFormatter",
        "run_readiness_checks": "modules.health.checks:run_readiness_checks",
        "DjangoEmailService": "modules.email.mailer:DjangoEmailService",
        "send_email": "modules.email.service:send_email",
        "DjangoTelegram": "modules.telegram.client:DjangoTelegram",
        "send_telegram_message": "modules.telegram.client:send_telegram_message",
        "DjangoTwilio": "modules.twilio.client:DjangoTwilio",
        "send_sms": "modules.twilio.client:send_sms",
        "send_whatsapp": "modules.twilio.client:send_whatsapp",
    },
    "exceptions": {
        "CfgError": "cfg.exceptions:CfgError",
        "ConfigurationError": "cfg.exceptions:ConfigurationError",
        "ConfigProblem": "cfg.exceptions:ConfigProblem",
        "RegistryError": "cfg.exceptions:RegistryError",
        "SettingsCollisionError": "cfg.exceptions:SettingsCollisionError",
    },
}

_cache: dict[str, Any] = {}
# cfg's own module attributes: a registered name must not hide them.
RESERVED = frozenset({"names", "register", "resolve", "registry"})


def _targets() -> dict[str, str]:
    return {name: target for group in REGISTRY.values() for name, target in group.items()}


def register(name: str, target: str, *, group: str = "project") -> None:
    """Add a public name (`cfg.<name>`), resolved lazily from "module:attribute"."""
    if not name.isidentifier() or name.startswith("_") or name in RESERVED:
        raise RegistryError(f"register({name!r}): the name must be a public Python identifier, not one of cfg's own")
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise RegistryError(f"register({name!r}): target must look like 'package.module:attribute', got {target!r}")
    existing = _targets().get(name)
    if existing is not None and existing != target:
        raise RegistryError(f"register({name!r}): already registered as {existing!r}; choose another name")
    REGISTRY.setdefault(group, {})[name] = target
    _cache.pop(name, None)


def names() -> list[str]:
    return sorted(_targets())


def resolve(name: str) -> Any:
    if name in _cache:
        return _cache[name]
    target = _targets().get(name)
    if target is None:
        import difflib

        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.8)
        hint = f"did you mean {' or '.join(repr(match) for match in close)}? " if close else ""
        raise RegistryError(f"cfg has no attribute {name!r}; {hint}cfg.names() lists every registered name")
    module_path, _, attribute = target.partition(":")
    try:
        value = getattr(importlib.import_module(module_path), attribute)
    except (ImportError, AttributeError) as error:
        raise RegistryError(f"cfg.{name} points at {target!r}, which does not resolve: {error}") from error
    _cache[name] = value
    return value
