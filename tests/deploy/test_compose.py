"""compose.yaml, compose.prod.yaml and the hybrid override, validated by the real compose binary."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel

from cfg.exceptions import ConfigurationError
from cfg.loading import environ_values, read_dotenv
from config.config import ProjectConfig
from tests.deploy.conftest import REPO, app_services, compose_config, resolved

DEV, PROD, HYBRID = "compose.yaml", "compose.prod.yaml", "docker/compose.hybrid.yaml"
PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://postgres:a-long-password@db:5432/app",
    "SITE_URL": "https://example.com",
    "SECURITY__ALLOWED_HOSTS": "example.com",
    "SECURITY__CSRF_TRUSTED_ORIGINS": "https://example.com",
    "EMAIL__HOST": "smtp.example.com",
    "EMAIL__PORT": "587",
    "EMAIL__USERNAME": "mailer",
    "EMAIL__PASSWORD": "mail-password",
    "EMAIL__USE_TLS": "true",
    "EMAIL__DEFAULT_FROM": "noreply@example.com",
    "POSTGRES_PASSWORD": "a-long-password",
    "SITE_DOMAIN": "example.com",
}


def known_path(model: type[BaseModel], path: tuple[str, ...]) -> bool:
    """Whether a nested key such as ('email', 'host') names a field of the config model."""
    field = model.model_fields.get(path[0])
    if field is None or field.exclude:
        return False
    if len(path) == 1:
        return True
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return known_path(annotation, path[1:])
    # Mappings (databases, csp) take any key below them.
    return getattr(annotation, "__origin__", None) is dict


def assert_known(environment: dict[str, Any], where: str) -> None:
    paths = environ_values({name: str(value) for name, value in environment.items()}, ProjectConfig)
    unknown = [name for name in environment if name != "DJANGO_ENV" and name.lower() not in _joined(paths)]
    unknown += [name for name in environment if name != "DJANGO_ENV" and not known_path(ProjectConfig, _split(name))]
    assert not unknown, f"{where} sets variables the configuration does not know: {sorted(set(unknown))}"


def _split(name: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in name.split("__"))


def _joined(paths: dict[tuple[str, ...], str]) -> set[str]:
    return {"__".join(path) for path in paths}


def load(environment: dict[str, Any], base_dir) -> ProjectConfig:
    values = {name: str(value) for name, value in environment.items() if value is not None}
    return ProjectConfig.load(base_dir, environ=values)


@pytest.mark.parametrize("files", [(DEV,), (PROD,), (DEV, HYBRID)])
def test_compose_files_pass_compose_config(files):
    result = compose_config(*files)
    assert result.returncode == 0, result.stderr


def test_the_compose_binary_rejects_an_invalid_file(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n    replica: 2\n")
    result = compose_config("compose.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "additional properties 'replica' not allowed" in result.stderr


def test_development_stack_has_every_service():
    services = resolved(DEV)["services"]
    assert {"web", "worker", "migrate", "db", "redis", "mailpit"} <= set(services)
    assert services["db"]["image"] == "pgvector/pgvector:pg18"
    assert services["redis"]["image"] == "redis:7-alpine"
    assert "--appendonly" in services["redis"]["command"]
    assert services["web"]["command"][:3] == ["gunicorn", "--config", "docker/gunicorn.conf.py"]
    assert "uvicorn_worker.UvicornWorker" in (REPO / "docker" / "gunicorn.conf.py").read_text()
    assert services["worker"]["command"] == ["python", "manage.py", "rearq_worker", "--with-timer"]
    assert "migrate" in " ".join(services["migrate"]["command"])


def test_only_web_and_the_mailpit_ui_publish_ports():
    services = resolved(DEV)["services"]
    published = {name: [p["target"] for p in service.get("ports", [])] for name, service in services.items()}
    assert {name: ports for name, ports in published.items() if ports} == {"web": [8000], "mailpit": [8025]}


def test_migrations_run_once_before_web_and_worker_on_healthy_services():
    services = resolved(DEV)["services"]
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        for dependency in ("db", "redis", "mailpit"):
            assert depends[dependency]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("db", "redis", "mailpit"):
        assert services[name]["healthcheck"]["test"]


@pytest.mark.parametrize("files", [(DEV,), (PROD,)])
def test_the_app_data_volume_is_the_images_data_dir_and_outside_any_bind_mount(files):
    image_data_dir = re.search(r"^\s+DATA_DIR=(\S+)$", (REPO / "docker" / "Dockerfile").read_text(), re.MULTILINE)
    assert image_data_dir, "the Dockerfile sets no DATA_DIR"
    for name, service in app_services(resolved(*files, env=PRODUCTION_ENV)).items():
        volumes = service.get("volumes", [])
        data = [volume for volume in volumes if volume.get("source") == "appdata"]
        assert [volume["target"] for volume in data] == [image_data_dir.group(1)], name
        binds = [volume["target"] for volume in volumes if volume["type"] == "bind"]
        for volume in volumes:
            inside = [bind for bind in binds if volume["target"].startswith(bind.rstrip("/") + "/")]
            assert not inside, f"{name}: {volume['target']} is mounted inside the bind mount {inside}"


def test_data_lives_in_named_volumes():
    project = resolved(DEV)
    db_volumes = project["services"]["db"]["volumes"]
    assert db_volumes[0]["type"] == "volume" and db_volumes[0]["source"] == "pgdata"
    assert project["services"]["redis"]["volumes"][0]["source"] == "redisdata"


@pytest.mark.parametrize("files", [(DEV,), (PROD,)])
def test_every_variable_the_app_services_get_is_a_config_field(files):
    project = resolved(*files, env=PRODUCTION_ENV)
    services = app_services(project)
    assert services, "no service runs the project's image"
    for name, service in services.items():
        assert_known(service["environment"], f"{files[0]} service {name}")


def test_the_known_field_check_catches_a_typo():
    with pytest.raises(AssertionError, match="EMAIL__HOTS"):
        assert_known({"EMAIL__HOTS": "mailpit", "DJANGO_ENV": "development"}, "a file")


def test_development_services_load_a_valid_config(config_dir):
    for name, service in app_services(resolved(DEV)).items():
        config = load(service["environment"], config_dir)
        assert config.env.value == "development", name
        assert config.database_url == "postgres://postgres:postgres@db:5432/app"
        assert config.tasks.backend == "rearq" and config.email.host == "mailpit"


def test_production_services_load_a_valid_production_config(config_dir):
    for name, service in app_services(resolved(PROD, env=PRODUCTION_ENV)).items():
        config = load(service["environment"], config_dir)
        assert config.is_production, name
        assert config.secret_key.get_secret_value() == PRODUCTION_ENV["SECRET_KEY"]
        assert config.security.allowed_hosts == ("example.com",)


def test_production_secrets_come_from_the_environment_and_are_required(config_dir):
    web = resolved(PROD)["services"]["web"]["environment"]
    for secret in ("SECRET_KEY", "DATABASE_URL", "SECURITY__ALLOWED_HOSTS", "EMAIL__PASSWORD"):
        assert web[secret] is None, f"{secret} must be passed through from the environment, not written in the file"
    with pytest.raises(ConfigurationError) as error:
        load(web, config_dir)
    assert "secret_key" in error.value.message and "database_url" in error.value.message


def test_production_has_no_source_mounts_and_sets_restarts_replicas_and_limits():
    project = resolved(PROD, env=PRODUCTION_ENV)
    services = project["services"]
    for name, service in app_services(project).items():
        assert all(volume["type"] == "volume" for volume in service.get("volumes", [])), name
        assert service["restart"] == ("no" if name == "migrate" else "unless-stopped"), name
    for name in ("web", "worker"):
        assert services[name]["deploy"]["replicas"] >= 2
    assert services["timer"]["deploy"]["replicas"] == 1
    for name in ("web", "worker", "timer", "db", "redis", "proxy"):
        limits = services[name]["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name
    assert "ports" not in services["web"], "production web is reached through the proxy only"
    assert [port["target"] for port in services["proxy"]["ports"]] == [80, 443, 443]


def test_hybrid_env_points_at_the_ports_the_hybrid_override_publishes(config_dir):
    services = resolved(DEV, HYBRID)["services"]
    published = {name: {int(p["published"]) for p in services[name].get("ports", [])} for name in services}
    for name in ("db", "redis", "mailpit"):
        assert all(p.get("host_ip") == "127.0.0.1" for p in services[name]["ports"] if p["target"] != 8025)
    hybrid = read_dotenv(REPO / "docker" / "hybrid.env")
    assert_known(hybrid, "docker/hybrid.env")
    assert urlsplit(hybrid["DATABASE_URL"]).port in published["db"]
    assert urlsplit(hybrid["REDIS_URL"]).port in published["redis"]
    assert int(hybrid["EMAIL__PORT"]) in published["mailpit"]
    config = load({**hybrid, "DJANGO_ENV": "development"}, config_dir)
    assert urlsplit(config.database_url).path == "/" + services["db"]["environment"]["POSTGRES_DB"]


def test_the_production_env_example_names_only_variables_something_reads():
    example = read_dotenv(REPO / "docker" / "prod.env.example")
    services = resolved(PROD)["services"]
    for_other_services = {
        name
        for service_name, service in services.items()
        if service_name not in app_services(resolved(PROD))
        for name in service.get("environment", {})
    }
    app_variables = {name: value for name, value in example.items() if name not in for_other_services}
    assert_known(app_variables, "docker/prod.env.example")
    passed_through = set(services["web"]["environment"])
    assert set(app_variables) <= passed_through, set(app_variables) - passed_through


@pytest.mark.parametrize(("files", "tag"), [((DEV,), "dev"), ((PROD,), "latest")])
def test_the_project_is_named_after_its_directory_or_dotenv_not_in_the_files(files, tag, tmp_path):
    """Nothing in the compose files names the project, so that a rename leaves them alone (upstream changes to them
    then merge cleanly): the project, its volumes and its image take the checkout's name, or COMPOSE_PROJECT_NAME,
    and the database is `app`, or POSTGRES_DB, in one place for the server, its healthcheck and DATABASE_URL."""
    for name in (DEV, PROD, HYBRID):
        assert not re.search(r"^name:", (REPO / name).read_text(), re.MULTILINE), f"{name} names the project"
    checkout = tmp_path / "acme_rocket"
    for name in files:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, checkout / name)

    def project() -> dict[str, Any]:
        result = compose_config(*files, env=PRODUCTION_ENV, cwd=checkout)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    default = project()
    assert default["name"] == "acme_rocket"
    assert {service["image"] for service in app_services(default).values()} == {f"acme_rocket:{tag}"}
    assert default["services"]["db"]["environment"]["POSTGRES_DB"] == "app"

    (checkout / ".env").write_text("COMPOSE_PROJECT_NAME=rocket\nPOSTGRES_DB=rocket_db\n")
    pinned = project()
    assert pinned["name"] == "rocket"
    assert {service["image"] for service in app_services(pinned).values()} == {f"rocket:{tag}"}
    db = pinned["services"]["db"]
    assert db["environment"]["POSTGRES_DB"] == "rocket_db"
    assert "--dbname=rocket_db" in " ".join(db["healthcheck"]["test"])
    if files == (DEV,):
        for name, service in app_services(pinned).items():
            assert service["environment"]["DATABASE_URL"].endswith("@db:5432/rocket_db"), name
