"""The image: hadolint clean, multi-stage, non-root, production requirements only, static files at build."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

from tests.deploy.conftest import PYTHON, REPO, copy_of_repository, hadolint_binary

DOCKERFILE = REPO / "docker" / "Dockerfile"
PROJECT_PACKAGES = ("cfg", "config", "apps", "modules")


def stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE.read_text(), flags=re.MULTILINE)[1:]


def test_hadolint_passes():
    result = subprocess.run([hadolint_binary(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nUSER root\n")
    result = subprocess.run([hadolint_binary(), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the :latest tag


def test_two_stages_on_python_313_slim():
    builder, runtime = stages()
    assert builder.startswith("python:3.13-slim AS builder")
    assert runtime.startswith("python:3.13-slim AS runtime")


def test_builder_installs_production_requirements_only_and_collects_static():
    builder, _ = stages()
    assert "pip install --no-cache-dir -r requirements/prod.txt -c requirements/constraints.txt" in builder
    assert "dev.txt" not in DOCKERFILE.read_text() and "local.txt" not in DOCKERFILE.read_text()
    assert "manage.py collectstatic --noinput" in builder
    assert "DJANGO_ENV=production" in builder


def test_the_build_compiles_the_projects_bytecode_checked_by_hash(tmp_path):
    """The builder's compileall RUN line, run as written on a copy of the build context: every module of the project's
    packages gets bytecode that a process started with PYTHONDONTWRITEBYTECODE (the image's) loads as valid."""
    builder, _ = stages()
    run = re.search(r"^RUN (python -m compileall .*)$", builder, re.MULTILINE)
    assert run, "the builder stage compiles no bytecode"
    context = copy_of_repository(tmp_path)
    env = {"PATH": f"{Path(PYTHON).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(["sh", "-c", run.group(1)], cwd=context, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    sources = [path for package in PROJECT_PACKAGES for path in (context / package).rglob("*.py")]
    assert len(sources) > 300
    stale = []
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        header = cached.read_bytes()[:16] if cached.exists() else b""
        checked_hash = header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:8], "little") == 0b11
        if not checked_hash or header[8:16] != importlib.util.source_hash(source.read_bytes()):
            stale.append(str(source.relative_to(context)))
    assert stale == []


def test_final_stage_has_no_build_tools_and_runs_as_non_root():
    _, runtime = stages()
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runtime
    user = re.search(r"^USER (\S+)$", runtime, re.MULTILINE)
    assert user and user.group(1).split(":")[0] not in ("root", "0")
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime


def test_healthcheck_probes_healthz():
    _, runtime = stages()
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*docker/healthcheck.py", runtime, re.MULTILINE)
    assert '"/healthz"' in (REPO / "docker" / "healthcheck.py").read_text()
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in runtime


def test_entrypoint_is_executable():
    assert os.access(REPO / "docker" / "entrypoint.sh", os.X_OK)


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in _prefixes(path)):
            ignored = not negate
    return ignored


def _prefixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def test_dockerignore_keeps_secrets_and_local_state_out_but_not_the_code():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for secret_or_state in (".env", ".env.production", ".venv/bin/python", ".data/postgres/PG_VERSION", ".git/HEAD"):
        assert _ignored(secret_or_state, patterns), secret_or_state
    for needed in ("manage.py", "config/settings.py", "docker/entrypoint.sh", "requirements/prod.txt", ".env.example"):
        assert not _ignored(needed, patterns), needed


def test_the_build_time_collectstatic_step_works(tmp_path):
    """The builder's collectstatic RUN line, run as written on a copy of the build context."""
    builder, _ = stages()
    run = re.search(r"^RUN (SECRET_KEY=.*?collectstatic --noinput)$", builder, re.MULTILINE | re.DOTALL)
    assert run, "the builder stage has no collectstatic step"
    context = copy_of_repository(tmp_path)
    env = {"PATH": f"{Path(PYTHON).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["sh", "-c", run.group(1)], cwd=context, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((context / "staticfiles" / "staticfiles.json").read_text())
    assert any(name.startswith("unfold/") for name in manifest["paths"])
