"""CoreConfig: the fields and rules of the whole configuration, one typed, immutable object.

cfg.config.DjangoConfig adds loading and settings generation on top; the settings generators read a CoreConfig."""

from __future__ import annotations

import importlib.util
import re
import zoneinfo
from collections import Counter
from pathlib import Path
from typing import Any, Self

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from cfg.catalog import BUILTIN_APPS, MODULES
from cfg.environment import Environment
from cfg.exceptions import RuleViolation
from cfg.middleware import place_middleware
from cfg.models.accounts import AccountsConfig
from cfg.models.agents import AgentsConfig
from cfg.models.api import ApiConfig
from cfg.models.apps import AppList, AppSpec, MiddlewareList
from cfg.models.base import ConfigModel, PostgresUrl, RedisUrl
from cfg.models.cache import CacheConfig
from cfg.models.constance import ConstanceConfig
from cfg.models.database import DatabaseConfig, DatabasePoolConfig
from cfg.models.email import EmailConfig
from cfg.models.integrations import NgrokConfig, TelegramConfig, TwilioConfig
from cfg.models.knowbase import KnowbaseConfig
from cfg.models.leads import LeadsConfig
from cfg.models.llm import LlmConfig
from cfg.models.logging import LoggingConfig
from cfg.models.newsletter import NewsletterConfig
from cfg.models.security import SecurityConfig
from cfg.models.storage import StorageConfig
from cfg.models.support import SupportConfig
from cfg.models.tasks import TasksConfig
from cfg.models.unfold import UnfoldConfig

ONE_YEAR = 31_536_000
# Django's own rule (check security.W009): 50+ characters, 5+ of them distinct.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5
# Values that appear in docs, examples and our own dev/test defaults: never valid in production.
EXAMPLE_SECRET_KEYS = frozenset(
    {
        "change-me",
        "changeme",
        "secret",
        "your-secret-key",
        "your-secret-key-here",
        "replace-me-with-a-long-random-string-of-at-least-fifty-characters",
    }
)
INSECURE_KEY_PREFIX = "django-insecure"
SLUG = re.compile(r"[a-z][a-z0-9_]*")


class CoreConfig(ConfigModel):
    """The fields and rules; subclass cfg.DjangoConfig (which adds loading and settings), not this."""

    # Validators are built at a class's first use: only the project's subclass validates a configuration, and building
    # CoreConfig's and DjangoConfig's as well (the whole tree of sections each, ~5 ms) would be wasted at every start.
    model_config = ConfigDict(defer_build=True)

    project_name: str = "Django Project"
    """Human-readable name shown in the admin, API docs and emails"""
    project_slug: str = Field(default="django_project", description="Lower-case Python identifier")
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    env: Environment = Environment.DEVELOPMENT
    """development | test | staging | production (DJANGO_ENV; detected when unset)"""
    debug: bool = False
    """Django DEBUG; refused in staging and production"""
    secret_key: SecretStr = SecretStr("")
    """Django SECRET_KEY; staging and production need 50+ random characters"""
    site_url: str = "http://127.0.0.1:8000"
    """Absolute URL of the site, used in emails and links"""
    home_redirect: str = ""
    """Where / redirects in staging and production (a path or an absolute URL); empty: a page with the project's name"""
    time_zone: str = "UTC"
    """IANA time zone name"""
    language_code: str = "en-us"
    """Default language"""
    data_dir: Path = Field(default=Path(".data"), description="Embedded PostgreSQL and local files, under base_dir")

    database_url: PostgresUrl | None = Field(default=None, description="Empty: the embedded PostgreSQL")
    databases: dict[str, DatabaseConfig] = Field(
        default_factory=dict,
        description="Extra aliases, e.g. DATABASES__ANALYTICS__URL, __APPS, __CONN_MAX_AGE, __OPTIONS",
    )
    db_conn_max_age: int = Field(default=60, ge=0)
    """Seconds to keep the default database connection open (ignored with a pool)"""
    db_pool: DatabasePoolConfig = Field(default_factory=DatabasePoolConfig)
    """The default database's connection pool: DB_POOL__MAX_SIZE, __MIN_SIZE, __TIMEOUT (docs/deploy.md)"""
    redis_url: RedisUrl = None
    """Redis for the cache and the task queue, e.g. redis://127.0.0.1:6379/0"""

    cache: CacheConfig = Field(default_factory=CacheConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    tasks: TasksConfig = Field(default_factory=TasksConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    unfold: UnfoldConfig = Field(default_factory=UnfoldConfig)
    constance: ConstanceConfig = Field(default_factory=ConstanceConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    twilio: TwilioConfig = Field(default_factory=TwilioConfig)
    ngrok: NgrokConfig = Field(default_factory=NgrokConfig)
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)
    knowbase: KnowbaseConfig = Field(default_factory=KnowbaseConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    leads: LeadsConfig = Field(default_factory=LeadsConfig)
    newsletter: NewsletterConfig = Field(default_factory=NewsletterConfig)
    support: SupportConfig = Field(default_factory=SupportConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    enable_accounts: bool = True
    """Accounts API: OTP sign-in, JWT, profile (the user model is always installed)"""
    enable_agents: bool = True
    """The agents app: pydantic-ai agents with audited toolsets, approvals and recorded runs (needs knowbase, tasks)"""
    enable_knowbase: bool = True
    """The knowbase app: documents, hybrid search, cited answers"""
    enable_leads: bool = True
    """The leads app: the public lead form with spam defences, the sales pipeline, staff API"""
    enable_newsletter: bool = True
    """The newsletter app: lists with double opt-in, campaigns sent through tasks, tracking (needs tasks)"""
    enable_support: bool = True
    """The support app: tickets with a live chat thread, SLA timers, the customers' API and the staff queue"""
    enable_tasks: bool = True
    """The tasks app: task runs, dashboard, staff API"""

    project_apps: AppList = ()
    """The project's own apps (docs/apps.md): package paths, or specs with URLs, checks and navigation"""
    project_middleware: MiddlewareList = ()
    """The project's own middleware, placed last (or after a named one)"""

    # A validator, not Field(pattern=...): a subclass that re-declares the field keeps the rule.
    @field_validator("project_slug")
    @classmethod
    def _slug_is_an_identifier(cls, value: str) -> str:
        if not SLUG.fullmatch(value):
            suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_")
            raise ValueError(
                f"{value!r} is not a lower-case identifier; use letters, digits and underscores, "
                f"starting with a letter, e.g. {suggestion or 'my_project'}"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone; use a name such as UTC or Europe/Berlin") from None
        return value

    @field_validator("site_url")
    @classmethod
    def _site_url_is_absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an absolute URL; use e.g. https://example.com")
        return value.rstrip("/")

    @field_validator("home_redirect")
    @classmethod
    def _home_redirect_is_a_path_or_url(cls, value: str) -> str:
        if value == "/":
            raise ValueError("'/' would redirect / to itself; leave it empty for the page with the project's name")
        # A browser takes "//host" and "/\\host" for other sites: a redirect elsewhere must be a URL with a scheme.
        if not value or value.startswith(("http://", "https://")):
            return value
        if not value.startswith("/") or value.startswith(("//", "/\\")):
            raise ValueError(f"{value!r} is neither a path nor an absolute URL; use e.g. /app/ or https://example.com")
        return value

    @field_validator("databases")
    @classmethod
    def _default_alias_is_database_url(cls, value: dict[str, DatabaseConfig]) -> dict[str, DatabaseConfig]:
        if "default" in value:
            raise ValueError(
                "the 'default' alias comes from DATABASE_URL; name extra aliases differently, e.g. 'analytics'"
            )
        return value

    # Cross-field rules. Each violation names the field, what is wrong and how to fix it.
    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        violations = self.rule_violations()
        if violations:
            raise RuleViolation(violations)
        return self

    def rule_violations(self) -> list[tuple[tuple[str, ...], str, str]]:
        found: list[tuple[tuple[str, ...], str, str]] = []
        found.extend(self.app_violations())
        if self.tasks.backend == "rearq" and not self.tasks_redis_url:
            found.append(
                (
                    ("tasks", "backend"),
                    "the rearq backend needs Redis and no Redis URL is set",
                    "set REDIS_URL (or TASKS__REDIS_URL), or TASKS__BACKEND=immediate",
                )
            )
        if self.enable_agents and self.agents.queue not in self.tasks.queues:
            found.append(
                (
                    ("agents", "queue"),
                    f"{self.agents.queue!r} is not one of the task queues ({', '.join(self.tasks.queues)})",
                    "add it to TASKS__QUEUES, or set AGENTS__QUEUE to one of them",
                )
            )
        if self.enable_newsletter and self.newsletter.queue not in self.tasks.queues:
            found.append(
                (
                    ("newsletter", "queue"),
                    f"{self.newsletter.queue!r} is not one of the task queues ({', '.join(self.tasks.queues)})",
                    "add it to TASKS__QUEUES, or set NEWSLETTER__QUEUE to one of them",
                )
            )
        key = self.secret_key.get_secret_value()
        if not key:
            found.append((("secret_key",), "is empty", "set SECRET_KEY to a long random string"))
        elif not key.strip():
            found.append((("secret_key",), "is only whitespace", "set SECRET_KEY to a long random string"))
        if self.env.is_deployed:
            found.extend(self.deployment_violations())
        return found

    def deployment_violations(self) -> list[tuple[tuple[str, ...], str, str]]:
        """The guard of staging and production. Staging may relax only the HTTPS rules (redirect, HSTS, secure
        cookies) and run on the embedded database (docs/configuration.md); never DEBUG, the key or the hosts."""
        found: list[tuple[tuple[str, ...], str, str]] = []
        env = self.env.value
        production = self.env is Environment.PRODUCTION
        if self.debug:
            found.append((("debug",), f"DEBUG is on in {env}", "set DEBUG=false"))
        weakness = self._secret_key_weakness()
        if weakness:
            generate = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'
            found.append((("secret_key",), weakness, f"set SECRET_KEY to the output of {generate}"))
        if production and not self.database_url:
            found.append(
                (
                    ("database_url",),
                    "production needs a database server; the embedded one is for development and tests",
                    "set DATABASE_URL=postgres://user:password@host:5432/name",
                )
            )
        hosts = self.security.allowed_hosts
        if not hosts:
            found.append(
                (
                    ("security", "allowed_hosts"),
                    "no host is allowed",
                    "set SECURITY__ALLOWED_HOSTS to your domain names, comma separated",
                )
            )
        if any(host == "*" or host.startswith("*") for host in hosts):
            found.append(
                (
                    ("security", "allowed_hosts"),
                    "a wildcard host accepts any Host header",
                    "list your real domain names in SECURITY__ALLOWED_HOSTS",
                )
            )
        if not production:
            return found
        if not self.security.ssl_redirect:
            found.append(
                (("security", "ssl_redirect"), "HTTPS redirect is off in production", "set SECURITY__SSL_REDIRECT=true")
            )
        if self.security.hsts_seconds < ONE_YEAR:
            found.append(
                (
                    ("security", "hsts_seconds"),
                    f"HSTS is {self.security.hsts_seconds} s; production needs at least one year",
                    f"set SECURITY__HSTS_SECONDS={ONE_YEAR}",
                )
            )
        if not self.security.secure_cookies:
            found.append(
                (
                    ("security", "secure_cookies"),
                    "cookies would be sent over plain HTTP",
                    "set SECURITY__SECURE_COOKIES=true",
                )
            )
        return found

    def _secret_key_weakness(self) -> str | None:
        """What makes the key unfit for a deployment; an empty or blank key is reported for every environment."""
        key = self.secret_key.get_secret_value()
        if not key.strip():
            return None
        distinct = len(set(key))
        if key.lower() in EXAMPLE_SECRET_KEYS or key.startswith(INSECURE_KEY_PREFIX):
            return "is a known example value"
        if len(key) < MIN_SECRET_KEY_LENGTH:
            return f"is {len(key)} characters; {self.env.value} needs at least {MIN_SECRET_KEY_LENGTH}"
        if distinct < MIN_SECRET_KEY_UNIQUE_CHARACTERS:
            plural = "s" if distinct > 1 else ""
            return (
                f"has only {distinct} distinct character{plural}; "
                f"{self.env.value} needs at least {MIN_SECRET_KEY_UNIQUE_CHARACTERS}"
            )
        return None

    # Derived values used by the settings generators.
    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def tasks_redis_url(self) -> str | None:
        return self.tasks.redis_url or self.redis_url

    @property
    def data_path(self) -> Path:
        return self.data_dir if self.data_dir.is_absolute() else self.base_dir / self.data_dir

    # The apps: built-in ones switched by enable_<name>, then the project's own (always on).
    def enabled_app_specs(self) -> list[AppSpec]:
        builtin = [spec for spec in BUILTIN_APPS if getattr(self, f"enable_{spec.name}")]
        return [*builtin, *self.project_apps]

    def installed_app_specs(self) -> list[AppSpec]:
        builtin = [spec for spec in BUILTIN_APPS if spec.always_installed or getattr(self, f"enable_{spec.name}")]
        return [*builtin, *self.project_apps]

    def enabled_apps(self) -> list[str]:
        return [spec.name for spec in self.enabled_app_specs()]

    def app_violations(self) -> list[tuple[tuple[str, ...], str, str]]:
        found: list[tuple[tuple[str, ...], str, str]] = []
        for spec in BUILTIN_APPS:
            if getattr(self, f"enable_{spec.name}") and not _importable(spec.app):
                found.append(
                    (
                        (f"enable_{spec.name}",),
                        f"the app {spec.app} is not in this project",
                        f"set ENABLE_{spec.name.upper()}=false",
                    )
                )
        builtin_names = {spec.name for spec in BUILTIN_APPS}
        seen: set[str] = set()
        for spec in self.project_apps:
            if spec.name in builtin_names or spec.name in seen:
                found.append(
                    (
                        ("project_apps",),
                        f"the name {spec.name!r} is taken by another app",
                        "give the app another name in project_apps (AppSpec(name=...))",
                    )
                )
            seen.add(spec.name)
            if not _importable(spec.app):
                found.append(
                    (
                        ("project_apps",),
                        f"the package {spec.app} cannot be found",
                        "create it (python manage.py startapp) or correct the path in project_apps",
                    )
                )
        found.extend(self._wiring_violations())
        enabled = {spec.name for spec in self.enabled_app_specs()}
        for spec in self.enabled_app_specs():
            for required in spec.requires:
                if required in enabled:
                    continue
                if required in builtin_names:
                    field = f"enable_{spec.name}" if spec.name in builtin_names else "project_apps"
                    switch_off = f"ENABLE_{spec.name.upper()}=false" if spec.name in builtin_names else "remove it"
                    found.append(
                        (
                            (field,),
                            f"the app {spec.name} requires {required}, which is off",
                            f"set ENABLE_{required.upper()}=true, or {switch_off}",
                        )
                    )
                else:
                    found.append(
                        (
                            ("project_apps",),
                            f"the app {spec.name} requires {required!r}, which is no app of this project",
                            f"add {required} to project_apps, or drop it from {spec.name}'s requires",
                        )
                    )
        return found

    def _wiring_violations(self) -> list[tuple[tuple[str, ...], str, str]]:
        """What the apps add must fit together: one app per package, one check per name, middleware that can be
        placed."""
        found: list[tuple[tuple[str, ...], str, str]] = []
        packages = Counter(spec.app for spec in (*MODULES, *self.installed_app_specs()))
        for package in sorted(package for package, count in packages.items() if count > 1):
            found.append(
                (
                    ("project_apps",),
                    f"the package {package} is installed twice",
                    "remove it from project_apps (a built-in app is switched with its ENABLE_ variable)",
                )
            )
        owners: dict[str, str] = {}
        for spec in self.enabled_app_specs():
            for check in spec.checks:
                if check in owners:
                    found.append(
                        (
                            ("project_apps",),
                            f"the readiness check {check!r} of {spec.name} is also {owners[check]}'s",
                            f"give {spec.name}'s check another name",
                        )
                    )
                owners.setdefault(check, spec.name)
        app_middleware = [entry for spec in (*MODULES, *self.installed_app_specs()) for entry in spec.middleware]
        # The apps' middleware first, then the project's on top: a failure names the setting that added it.
        for field, entries, fix in (
            ("project_apps", app_middleware, "correct the middleware of that app in project_apps"),
            ("project_middleware", [*app_middleware, *self.project_middleware], "correct PROJECT_MIDDLEWARE"),
        ):
            try:
                place_middleware(entries)
            except ValueError as error:
                found.append(((field,), str(error), fix))
                break
        return found

    def extra_settings(self) -> dict[str, Any]:
        """Extension point: a project's own settings, composed last. Keys must be new."""
        return {}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
