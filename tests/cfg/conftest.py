"""Builds configs from files written into tmp_path and an explicit environ: never the developer's own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cfg.config import DjangoConfig
from cfg.exceptions import ConfigurationError
from cfg.loading import environ_values
from config.config import ProjectConfig

BASE_DIR = Path(__file__).resolve().parents[2]
STRONG_SECRET_KEY = "k" * 20 + "Zq8-Xw2_Lp5vN7rT0yB4mC6dF9hJ3sG1aE"
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_SECRET_KEY,
    "DATABASE_URL": "postgres://app:db-pass-123@db.internal:5432/app",
    "SECURITY__ALLOWED_HOSTS": "example.com",
}


class Project:
    """A throwaway project directory: config/environments/<env>.yaml and .env live under it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def yaml(self, env: str, text: str) -> None:
        path = self.root / "config" / "environments" / f"{env}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def dotenv(self, text: str) -> None:
        (self.root / ".env").write_text(text)

    def load(self, environ: dict[str, str], cls: type[DjangoConfig] = ProjectConfig) -> Any:
        return cls.load(self.root, environ=environ)

    def problems(self, environ: dict[str, str], cls: type[DjangoConfig] = ProjectConfig) -> list[str]:
        with pytest.raises(ConfigurationError) as info:
            self.load(environ, cls)
        assert [f"Invalid configuration: {problem}" for problem in info.value.problems] == info.value.message.split(
            "\n"
        )
        return info.value.message.split("\n")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def clean_environ(**extra: str) -> dict[str, str]:
    """The test process's environment without DJANGO_* and without any config variable: for a subprocess that must
    see only `extra`."""
    config_names = {name for name in os.environ if environ_values({name: ""}, ProjectConfig)}
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in config_names and not key.startswith(("DJANGO_", "PYTEST"))
    }
    return {**environ, **extra}
