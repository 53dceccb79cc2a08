"""Every invalid configuration stops loading with one exact, readable line per mistake.

A line names the field path, where the value came from, what is wrong and how to fix it.
"""

from __future__ import annotations

import sys

import pytest

from cfg.catalog import BUILTIN_APP_NAMES

from .conftest import Project

TEST = {"DJANGO_ENV": "test"}
YAML = "config/environments/test.yaml"
PREFIX = "Invalid configuration: "
# Every app switched off explicitly, so that these tests do not depend on which apps default to on.
ALL_APPS_OFF = {f"ENABLE_{name.upper()}": "false" for name in BUILTIN_APP_NAMES}


def case(id: str, expected: str, environ: dict[str, str] | None = None, *, yaml: str = "", dotenv: str = "") -> object:
    return pytest.param({**TEST, **(environ or {})}, yaml, dotenv, expected, id=id)


CASES = [
    # Types
    case(
        "int-from-env",
        "email.port (from env var EMAIL__PORT): is not a whole number (got 'abc'). "
        "Fix: set EMAIL__PORT to a whole number",
        {"EMAIL__PORT": "abc"},
    ),
    case(
        "int-from-yaml",
        f"email.port (from {YAML} key email.port): is not a whole number (got 'twenty-five'). "
        f"Fix: set email.port in {YAML} to a whole number",
        yaml="email:\n  port: twenty-five\n",
    ),
    case(
        "int-from-dotenv",
        "db_conn_max_age (from .env key DB_CONN_MAX_AGE): is not a whole number (got '1.5'). "
        "Fix: set DB_CONN_MAX_AGE in .env to a whole number",
        dotenv="DB_CONN_MAX_AGE=1.5\n",
    ),
    case(
        "bool",
        "debug (from env var DEBUG): is not true or false (got 'maybe'). Fix: set DEBUG to true or false",
        {"DEBUG": "maybe"},
    ),
    case(
        "bool-nested-yaml",
        f"security.ssl_redirect (from {YAML} key security.ssl_redirect): is not true or false (got 'sometimes'). "
        f"Fix: set security.ssl_redirect in {YAML} to true or false",
        yaml="security:\n  ssl_redirect: sometimes\n",
    ),
    case(
        "list-not-json",
        "security.allowed_hosts (from env var SECURITY__ALLOWED_HOSTS): '[a.example.com' is neither a JSON list "
        'nor a comma-separated list. Fix: write a,b,c or ["a", "b", "c"]',
        {"SECURITY__ALLOWED_HOSTS": "[a.example.com"},
    ),
    # Ranges
    case(
        "port-too-high",
        "email.port (from env var EMAIL__PORT): must be at most 65535 (got '70000'). "
        "Fix: set EMAIL__PORT to 65535 or less",
        {"EMAIL__PORT": "70000"},
    ),
    case(
        "page-size-zero",
        "api.page_size (from env var API__PAGE_SIZE): must be at least 1 (got '0'). "
        "Fix: set API__PAGE_SIZE to 1 or more",
        {"API__PAGE_SIZE": "0"},
    ),
    case(
        "negative-timeout",
        "cache.default_timeout (from .env key CACHE__DEFAULT_TIMEOUT): must be at least 0 (got '-1'). "
        "Fix: set CACHE__DEFAULT_TIMEOUT in .env to 0 or more",
        dotenv="CACHE__DEFAULT_TIMEOUT=-1\n",
    ),
    case(
        "embedding-dimensions",
        "llm.embedding_dimensions (from env var LLM__EMBEDDING_DIMENSIONS): must be at least 8 (got '4'). "
        "Fix: set LLM__EMBEDDING_DIMENSIONS to 8 or more",
        {"LLM__EMBEDDING_DIMENSIONS": "4"},
    ),
    # Choices
    case(
        "email-backend",
        "email.backend (from env var EMAIL__BACKEND): must be one of 'console', 'smtp', 'file', 'locmem' "
        "(got 'sendgrid'). Fix: set EMAIL__BACKEND to one of 'console', 'smtp', 'file', 'locmem'",
        {"EMAIL__BACKEND": "sendgrid"},
    ),
    case(
        "log-level",
        f"logging.level (from {YAML} key logging.level): must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR', "
        f"'CRITICAL' (got 'VERBOSE'). Fix: set logging.level in {YAML} to one of 'DEBUG', 'INFO', 'WARNING', "
        "'ERROR', 'CRITICAL'",
        yaml="logging:\n  level: verbose\n",
    ),
    case(
        "llm-provider",
        "llm.embedding_provider (from env var LLM__EMBEDDING_PROVIDER): must be one of 'builtin', 'openai', 'local' "
        "(got 'anthropic'). Fix: set LLM__EMBEDDING_PROVIDER to one of 'builtin', 'openai', 'local'",
        {"LLM__EMBEDDING_PROVIDER": "anthropic"},
    ),
    case(
        "slug-pattern",
        "project_slug (from env var PROJECT_SLUG): 'My-Shop' is not a lower-case identifier. "
        "Fix: use letters, digits and underscores, starting with a letter, e.g. my_shop",
        {"PROJECT_SLUG": "My-Shop"},
    ),
    # Unknown keys (typos)
    case(
        "yaml-typo-top-level",
        f"emial (from {YAML} key emial.host): is not a setting. Fix: did you mean email in {YAML}?",
        yaml="emial:\n  host: smtp.example.com\n",
    ),
    case(
        "yaml-typo-nested",
        f"email.prot (from {YAML} key email.prot): is not a setting. Fix: did you mean email.port in {YAML}?",
        yaml="email:\n  prot: 587\n",
    ),
    case(
        "env-typo-nested",
        "email.prot (from env var EMAIL__PROT): is not a setting. Fix: did you mean EMAIL__PORT?",
        {"EMAIL__PROT": "587"},
    ),
    # Database, Redis and throttle URLs
    case(
        "mysql-database-url",
        "database_url (from env var DATABASE_URL): scheme 'mysql' is not PostgreSQL. "
        "Fix: this project runs on PostgreSQL only: use postgres://user:password@host:5432/name",
        {"DATABASE_URL": "mysql://shop:hunter2-db@db.internal:3306/shop"},
    ),
    case(
        "database-url-without-name",
        "database_url (from env var DATABASE_URL): the URL names no database. "
        "Fix: add it after the host, as in postgres://user@host:5432/name",
        {"DATABASE_URL": "postgres://shop:hunter2-db@db.internal:5432"},
    ),
    case(
        "alias-sqlite",
        "databases.analytics.url (from env var DATABASES__ANALYTICS__URL): scheme 'sqlite' is not PostgreSQL. "
        "Fix: this project runs on PostgreSQL only: use postgres://user:password@host:5432/name",
        {"DATABASES__ANALYTICS__URL": "sqlite:///analytics.db"},
    ),
    case(
        "alias-without-url",
        "databases.analytics.url (from none of the sources): is required. Fix: set DATABASES__ANALYTICS__URL",
        {"DATABASES__ANALYTICS__APPS": "leads"},
    ),
    case(
        "alias-named-default",
        "databases (from env var DATABASES__DEFAULT__URL): the 'default' alias comes from DATABASE_URL. "
        "Fix: name extra aliases differently, e.g. 'analytics'",
        {"DATABASES__DEFAULT__URL": "postgres://db.internal/app"},
    ),
    case(
        "redis-url-scheme",
        "redis_url (from env var REDIS_URL): scheme 'http' is not Redis. "
        "Fix: use redis://host:6379/0 (rediss:// for TLS, unix:// for a socket)",
        {"REDIS_URL": "http://:hunter2-redis@cache.internal:6379/0"},
    ),
    case(
        "tasks-redis-url-without-scheme",
        "tasks.redis_url (from env var TASKS__REDIS_URL): scheme '(none)' is not Redis. "
        "Fix: use redis://host:6379/0 (rediss:// for TLS, unix:// for a socket)",
        {"TASKS__REDIS_URL": "cache.internal:6379"},
    ),
    case(
        "throttle-rate",
        "api.throttle_anon (from env var API__THROTTLE_ANON): 'lots' is not a throttle rate. "
        "Fix: use a number and a period such as '100/hour' or '10/minute'",
        {"API__THROTTLE_ANON": "lots"},
    ),
    # Site, hosts, origins, time zone
    case(
        "time-zone",
        "time_zone (from env var TIME_ZONE): 'Mars/Olympus_Mons' is not an IANA time zone. "
        "Fix: use a name such as UTC or Europe/Berlin",
        {"TIME_ZONE": "Mars/Olympus_Mons"},
    ),
    case(
        "relative-site-url",
        f"site_url (from {YAML} key site_url): 'shop.example.com' is not an absolute URL. "
        "Fix: use e.g. https://example.com",
        yaml="site_url: shop.example.com\n",
    ),
    case(
        "csrf-origin-without-scheme",
        "security.csrf_trusted_origins (from env var SECURITY__CSRF_TRUSTED_ORIGINS): origin 'shop.example.com' "
        "has no scheme. Fix: write it as https://shop.example.com",
        {"SECURITY__CSRF_TRUSTED_ORIGINS": "https://ok.example.com,shop.example.com"},
    ),
    case(
        "cors-origin-without-scheme",
        "security.cors_allowed_origins (from env var SECURITY__CORS_ALLOWED_ORIGINS): origin 'app.example.com' "
        "has no scheme. Fix: write it as https://app.example.com",
        {"SECURITY__CORS_ALLOWED_ORIGINS": "app.example.com"},
    ),
    case(
        "host-given-as-url",
        "security.allowed_hosts (from env var SECURITY__ALLOWED_HOSTS): host 'https://shop.example.com/' is a URL, "
        "not a host name. Fix: write only the host, e.g. shop.example.com",
        {"SECURITY__ALLOWED_HOSTS": "https://shop.example.com/"},
    ),
    # Cross-field rules
    case(
        "tls-and-ssl",
        "email.use_ssl (from env var EMAIL__USE_SSL): use_ssl and use_tls are both on, and they exclude each other. "
        "Fix: turn one off: use_tls for port 587 (STARTTLS), use_ssl for port 465",
        {"EMAIL__USE_TLS": "true", "EMAIL__USE_SSL": "true"},
    ),
    case(
        "rearq-without-redis",
        "tasks.backend (from env var TASKS__BACKEND): the rearq backend needs Redis and no Redis URL is set. "
        "Fix: set REDIS_URL (or TASKS__REDIS_URL), or TASKS__BACKEND=immediate",
        {"TASKS__BACKEND": "rearq"},
    ),
    case(
        "empty-queues",
        "tasks.queues (from env var TASKS__QUEUES): at least one queue is needed, e.g. 'default'. "
        "Fix: correct TASKS__QUEUES",
        {"TASKS__QUEUES": " , "},
    ),
    case(
        "empty-secret-key",
        "secret_key (from env var SECRET_KEY): is empty. Fix: set SECRET_KEY to a long random string",
        {"SECRET_KEY": ""},
    ),
    # Constance and Unfold
    case(
        "constance-default-type",
        f"constance.fields.MAX_UPLOAD_MB.default (from {YAML} key constance.fields.MAX_UPLOAD_MB.default): "
        "'ten' is not of type int. Fix: give a default of type int or change the field's type",
        yaml="constance:\n  fields:\n    MAX_UPLOAD_MB:\n      type: int\n      default: ten\n",
    ),
    case(
        "constance-bool-is-not-int",
        f"constance.fields.RETRIES.default (from {YAML} key constance.fields.RETRIES.default): "
        "True is not of type int. Fix: give a default of type int or change the field's type",
        yaml="constance:\n  fields:\n    RETRIES:\n      type: int\n      default: true\n",
    ),
    case(
        "constance-unknown-type",
        f"constance.fields.RATIO.type (from {YAML} key constance.fields.RATIO.type): must be one of 'str', 'email', "
        "'int', 'bool', 'float', 'decimal', 'date', 'datetime' (got 'percent'). Fix: set constance.fields.RATIO.type "
        f"in {YAML} to one of 'str', 'email', 'int', 'bool', 'float', 'decimal', 'date', 'datetime'",
        yaml="constance:\n  fields:\n    RATIO:\n      type: percent\n      default: 0.5\n",
    ),
    case(
        "unfold-missing-shades",
        f"unfold.primary_color (from {YAML} key unfold.primary_color): shades do not match (missing 400, 950). "
        "Fix: give exactly the shades 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, "
        "e.g. '500': 'oklch(55.8% 0.288 302.321)', or leave it empty for Unfold's violet",
        yaml="unfold:\n  primary_color:\n"
        + "".join(f"    '{shade}': '#{shade:0>6}'\n" for shade in (50, 100, 200, 300, 500, 600, 700, 800, 900)),
    ),
    case(
        "unfold-unknown-shade",
        f"unfold.primary_color (from {YAML} key unfold.primary_color): shades do not match (unknown 1000). "
        "Fix: give exactly the shades 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, "
        "e.g. '500': 'oklch(55.8% 0.288 302.321)', or leave it empty for Unfold's violet",
        yaml="unfold:\n  primary_color:\n"
        + "".join(
            f"    '{shade}': '#{shade:0>6}'\n" for shade in (50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950, 1000)
        ),
    ),
    # Environment and files
    case(
        "bad-django-env",
        "env (from env var DJANGO_ENV): 'prodution' is not an environment. "
        "Fix: set DJANGO_ENV to one of: development, test, staging, production (or dev, prod, stage, testing)",
        {"DJANGO_ENV": "prodution"},
    ),
    case(
        "bad-django-env-in-dotenv",
        "env (from .env key DJANGO_ENV): 'live' is not an environment. "
        "Fix: set DJANGO_ENV to one of: development, test, staging, production (or dev, prod, stage, testing)",
        {"DJANGO_ENV": ""},
        dotenv="DJANGO_ENV=live\n",
    ),
    case(
        "yaml-syntax",
        f"{YAML} (from line 3, column 1): is not valid YAML: expected ',' or ']', but got '<stream end>'. "
        "Fix: correct the YAML syntax at line 3, column 1",
        yaml="security:\n  allowed_hosts: [a.example.com\n",
    ),
    case(
        "yaml-not-a-mapping",
        f"{YAML} (from the file): must be a mapping of keys to values, not a list. "
        "Fix: write `key: value` lines at the top level, e.g. `debug: false`",
        yaml="- debug\n- false\n",
    ),
    case(
        "env-section-not-a-mapping",
        "email (from env var EMAIL): is not a mapping (got 'smtp'). "
        "Fix: remove EMAIL and set the keys inside it one by one, as EMAIL__<KEY>",
        {"EMAIL": "smtp"},
    ),
    case(
        "yaml-section-not-a-mapping",
        f"email (from {YAML} key email): is not a mapping (got 'smtp.example.com'). "
        f"Fix: write email in {YAML} as a YAML mapping, or set its keys one by one as EMAIL__<KEY>",
        yaml="email: smtp.example.com\n",
    ),
]


@pytest.mark.parametrize(("environ", "yaml", "dotenv", "expected"), CASES)
def test_invalid_configuration_has_one_exact_readable_line(
    project: Project, environ: dict[str, str], yaml: str, dotenv: str, expected: str
) -> None:
    if yaml:
        project.yaml("test", yaml)
    if dotenv:
        project.dotenv(dotenv)
    assert project.problems(environ) == [PREFIX + expected]


def test_there_are_at_least_thirty_distinct_cases() -> None:
    assert len({param.id for param in CASES}) == len(CASES) >= 30  # type: ignore[attr-defined]


SECRETS = {
    "DATABASE_URL": "mysql://shop:hunter2-db@db.internal/shop",
    "REDIS_URL": "http://:hunter2-redis@cache.internal:6379",
    "DATABASES__ANALYTICS__URL": "mysql://reader:hunter2-alias@db.internal/analytics",
    "EMAIL__PORT": "hunter2-port",  # not a secret field: echoed, proving the check below can fail
}


def test_secret_values_are_never_echoed(project: Project) -> None:
    project.yaml("test", "llm:\n  api_key: [hunter2-llm]\nemail:\n  password:\n    nested: hunter2-mail\n")
    lines = project.problems({**TEST, **SECRETS})
    text = "\n".join(lines)
    for secret in ("hunter2-db", "hunter2-redis", "hunter2-alias", "hunter2-llm", "hunter2-mail"):
        assert secret not in text
    assert "(got 'hunter2-port')" in text
    assert f"email.password (from {YAML} key email.password.nested): is not text. " in text
    assert f"llm.api_key (from {YAML} key llm.api_key): is not text. " in text
    assert len(lines) == 6


def test_every_mistake_is_reported_at_once_in_field_order(project: Project) -> None:
    project.yaml("test", "email:\n  port: 0\n")
    lines = project.problems({**TEST, "DEBUG": "yes please", "TIME_ZONE": "Nowhere"})
    assert [line.removeprefix(PREFIX).split(" (from ")[0] for line in lines] == ["debug", "time_zone", "email.port"]


def test_enabling_an_app_that_is_not_in_the_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # A team that deleted apps/support: a None in sys.modules makes the package unfindable, as if it were gone.
    monkeypatch.setitem(sys.modules, "apps.support", None)
    project.yaml("test", "enable_support: true\n")
    environ = {**TEST, **ALL_APPS_OFF, "ENABLE_ACCOUNTS": "true"}
    del environ["ENABLE_SUPPORT"]
    assert project.problems(environ) == [
        f"{PREFIX}enable_support (from {YAML} key enable_support): the app apps.support is not in "
        "this project. Fix: set ENABLE_SUPPORT=false",
    ]


def test_an_app_enabled_while_an_app_it_requires_is_off(project: Project) -> None:
    problems = project.problems({**TEST, **ALL_APPS_OFF, "ENABLE_AGENTS": "true"})
    assert (
        f"{PREFIX}enable_agents (from env var ENABLE_AGENTS): the app agents requires knowbase, which is off. "
        "Fix: set ENABLE_KNOWBASE=true, or ENABLE_AGENTS=false"
    ) in problems


def test_a_project_app_that_cannot_be_found(project: Project) -> None:
    assert project.problems({**TEST, "PROJECT_APPS": "cfgtests_nowhere.billing"}) == [
        f"{PREFIX}project_apps (from env var PROJECT_APPS): the package cfgtests_nowhere.billing cannot be "
        "found. Fix: create it (python manage.py startapp) or correct the path in project_apps"
    ]


def test_a_project_app_named_like_a_builtin_one(project: Project) -> None:
    assert project.problems({**TEST, "PROJECT_APPS": '[{"app": "apps", "name": "tasks"}]'}) == [
        f"{PREFIX}project_apps (from env var PROJECT_APPS): the name 'tasks' is taken by another app. "
        "Fix: give the app another name in project_apps (AppSpec(name=...))"
    ]


def test_a_project_app_requiring_an_unknown_app(project: Project) -> None:
    environ = {**TEST, "PROJECT_APPS": '[{"app": "apps", "name": "portal", "requires": ["billing"]}]'}
    assert project.problems(environ) == [
        f"{PREFIX}project_apps (from env var PROJECT_APPS): the app portal requires 'billing', which is no app of "
        "this project. Fix: add billing to project_apps, or drop it from portal's requires"
    ]
