"""Loading order: field default < smart default < config/environments/<env>.yaml < .env < process env."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cfg.defaults import DEVELOPMENT_SECRET_KEY, TEST_SECRET_KEY
from cfg.environment import Environment

from .conftest import PRODUCTION, STRONG_SECRET_KEY, Project

# Staging is held to the production guard's host rule (docs/configuration.md).
STAGING_HOSTS = {"SECURITY__ALLOWED_HOSTS": "staging.example.com"}


def test_field_default_applies_where_no_smart_default_exists(project: Project) -> None:
    # Staging's smart defaults say nothing about the log level or the email host.
    config = project.load({"DJANGO_ENV": "staging", "SECRET_KEY": STRONG_SECRET_KEY, **STAGING_HOSTS})
    assert config.logging.level == "INFO"
    assert config.email.host == "localhost"


def test_smart_default_beats_field_default(project: Project) -> None:
    development = project.load({"DJANGO_ENV": "development"})
    assert development.debug is True  # field default False
    assert development.logging.format == "text"  # field default auto
    assert development.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY
    test = project.load({"DJANGO_ENV": "test"})
    assert test.email.backend == "locmem"  # field default console
    assert test.secret_key.get_secret_value() == TEST_SECRET_KEY
    production = project.load(PRODUCTION)
    assert production.security.ssl_redirect is True  # field default False
    assert production.security.hsts_seconds == 31_536_000


# Each step adds one source on top of all the lower ones; the highest present wins.
STEPS = [
    ("smart default", "WARNING"),
    ("yaml", "ERROR"),
    (".env", "CRITICAL"),
    ("env var", "DEBUG"),
]


@pytest.mark.parametrize("upto", range(len(STEPS)), ids=[name for name, _ in STEPS])
def test_each_source_overrides_the_ones_below(project: Project, upto: int) -> None:
    environ = {"DJANGO_ENV": "test"}
    if upto >= 1:
        project.yaml("test", "logging:\n  level: ERROR\n")
    if upto >= 2:
        project.dotenv("LOGGING__LEVEL=CRITICAL\n")
    if upto >= 3:
        environ["LOGGING__LEVEL"] = "DEBUG"
    assert project.load(environ).logging.level == STEPS[upto][1]


def test_sources_merge_key_by_key_not_whole_sections(project: Project) -> None:
    project.yaml("test", "email:\n  host: yaml.example.com\n  port: 2525\n  username: from-yaml\n")
    project.dotenv("EMAIL__PORT=2526\n")
    config = project.load({"DJANGO_ENV": "test", "EMAIL__USERNAME": "from-env"})
    assert (config.email.host, config.email.port, config.email.username) == ("yaml.example.com", 2526, "from-env")
    assert config.email.backend == "locmem"  # the smart default for test survives beside the YAML section


def test_yaml_of_another_environment_is_not_read(project: Project) -> None:
    project.yaml("production", "logging:\n  level: ERROR\n")
    assert project.load({"DJANGO_ENV": "test"}).logging.level == "WARNING"


def test_nested_keys_use_double_underscores(project: Project) -> None:
    config = project.load(
        {
            "DJANGO_ENV": "test",
            "EMAIL__HOST": "smtp.example.com",
            "SECURITY__ALLOWED_HOSTS": "a.example.com, b.example.com",
            "SECURITY__CSRF_TRUSTED_ORIGINS": '["https://a.example.com", "https://b.example.com"]',
            "DATABASES__ANALYTICS__URL": "postgres://reader:pw@analytics.internal:5432/analytics",
            "DATABASES__ANALYTICS__APPS": "leads,support",
            "DATABASES__ANALYTICS__CONN_MAX_AGE": "0",
        }
    )
    assert config.email.host == "smtp.example.com"
    assert config.security.allowed_hosts == ("a.example.com", "b.example.com")
    assert config.security.csrf_trusted_origins == ("https://a.example.com", "https://b.example.com")
    analytics = config.databases["analytics"]
    assert analytics.url == "postgres://reader:pw@analytics.internal:5432/analytics"
    assert analytics.apps == ("leads", "support")
    assert analytics.conn_max_age == 0


def test_names_that_are_not_config_fields_are_ignored(project: Project) -> None:
    project.dotenv("PATH=/nowhere\nUNRELATED=1\ndebug=true\n")
    config = project.load({"DJANGO_ENV": "test", "HOME": "/root", "TERM": "xterm", "debug": "true", "A__B": "1"})
    assert config.debug is False


def test_dotenv_can_select_the_environment_and_its_yaml(project: Project) -> None:
    project.dotenv("DJANGO_ENV=development\n")
    project.yaml("development", "project_name: From development YAML\n")
    config = project.load({})
    assert config.env is Environment.DEVELOPMENT
    assert config.project_name == "From development YAML"


def test_process_django_env_beats_dotenv(project: Project) -> None:
    project.dotenv("DJANGO_ENV=development\n")
    assert project.load({"DJANGO_ENV": "test"}).env is Environment.TEST


def test_explicit_django_env_wins_over_detection(project: Project) -> None:
    # Under pytest, detection says "test"; an explicit value is still obeyed.
    assert project.load({}).env is Environment.TEST
    assert project.load({"DJANGO_ENV": "development"}).env is Environment.DEVELOPMENT
    staging = {"DJANGO_ENV": "staging", "SECRET_KEY": STRONG_SECRET_KEY, **STAGING_HOSTS}
    assert project.load(staging).env is Environment.STAGING


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("dev", Environment.DEVELOPMENT),
        ("DEV", Environment.DEVELOPMENT),
        ("testing", Environment.TEST),
        ("stage", Environment.STAGING),
        ("prod", Environment.PRODUCTION),
        (" Production ", Environment.PRODUCTION),
    ],
)
def test_environment_aliases(project: Project, given: str, expected: Environment) -> None:
    config = project.load({**PRODUCTION, "DJANGO_ENV": given})
    assert config.env is expected


def test_alias_selects_the_canonical_yaml_file(project: Project) -> None:
    project.yaml("development", "project_name: Canonical\n")
    assert project.load({"DJANGO_ENV": "dev"}).project_name == "Canonical"


def test_the_config_is_immutable(project: Project) -> None:
    config = project.load({"DJANGO_ENV": "test"})
    with pytest.raises(ValidationError, match="frozen"):
        config.debug = True
    with pytest.raises(ValidationError, match="frozen"):
        config.email.port = 2525
    with pytest.raises(ValidationError, match="frozen"):
        config.security.allowed_hosts = ["*"]
    assert config.debug is False and config.email.port == 25


def test_lists_and_mappings_inside_the_config_are_immutable_too(project: Project) -> None:
    project.yaml(
        "test",
        "tasks:\n  periodic:\n    nightly:\n      task: apps.reports.tasks.build\n      cron: '0 3 * * *'\n"
        "      kwargs: {formats: [pdf]}\n",
    )
    config = project.load({"DJANGO_ENV": "test", "DATABASES__ANALYTICS__URL": "postgres://u@h:5432/a"})
    with pytest.raises(AttributeError):
        config.security.allowed_hosts.append("*")  # type: ignore[attr-defined]
    refused = [
        lambda: config.security.csp.__setitem__("script-src", ("*",)),
        lambda: config.security.csp.update({"script-src": ("*",)}),
        lambda: config.databases.pop("analytics"),
        lambda: config.tasks.periodic["nightly"].kwargs.clear(),
    ]
    for change in refused:
        with pytest.raises(TypeError, match="the configuration is immutable"):
            change()
    assert isinstance(config.tasks.periodic["nightly"].kwargs["formats"], tuple)
    # A later config starts from the same pristine defaults.
    assert project.load({"DJANGO_ENV": "test"}).security.csp == config.security.csp


def test_a_bad_value_below_is_harmless_when_a_higher_source_overrides_it(project: Project) -> None:
    project.yaml("test", "email:\n  port: not-a-port\n")
    project.dotenv("DEBUG=perhaps\n")
    config = project.load({"DJANGO_ENV": "test", "EMAIL__PORT": "2525", "DEBUG": "false"})
    assert (config.email.port, config.debug) == (2525, False)
