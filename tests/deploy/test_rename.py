"""rename_project, run on a copy of the repository: one step, idempotent, and the copy still works."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cfg.management.commands.rename_project import read_identity, slugify
from tests.deploy.conftest import PYTHON, REPO, compose_config, copy_of_repository

# A name the checkout does not have yet (it may have been renamed to the first one already).
_CURRENT = read_identity((REPO / "config" / "config.py").read_text())
NAME, SLUG = ("Zenith Labs", "zenith_labs") if _CURRENT.slug == "acme_rocket" else ("Acme Rocket", "acme_rocket")
IDENTITY_FILES = ("config/config.py", "compose.yaml", "compose.prod.yaml", "docker/hybrid.env", "pyproject.toml")


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    environment.update(env)
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def renamed_copy() -> Iterator[tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]]:
    # Not under pytest's temporary root: every pytest session that starts (the copy's own test run, or another run
    # on the machine) chmods /tmp/pytest-of-<user> back to 0700, and the copy's embedded PostgreSQL, which runs as
    # its own system user when we are root, could then no longer reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="renamed-copy-"))
    try:
        yield _renamed(copy_of_repository(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _renamed(copy: Path) -> tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]:
    old = read_identity((copy / "config" / "config.py").read_text())
    before = {name: (copy / name).read_text() for name in IDENTITY_FILES}
    assert old.slug != SLUG
    result = run([PYTHON, "manage.py", "rename_project", NAME], copy, DJANGO_ENV="test")
    assert result.returncode == 0, result.stdout + result.stderr
    return copy, before, result


def test_slugify():
    assert slugify("Acme Rocket 2") == "acme_rocket_2"
    assert slugify("  Über-Shop!  ") == "uber_shop"
    assert slugify("Café Crème") == "cafe_creme"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "The project name is empty"),
        (["9 Lives"], "must start with a lowercase letter"),
        (["Acme", "--slug", "Acme-Rocket"], "must start with a lowercase letter and hold only"),
        (['Acme "Rocket"'], "contains quotes"),
        (["Postgres"], "PostgreSQL system database name"),
        (["x" * 81], "use at most 80"),
        # A slug that already stands for something else (a compose service) would be rewritten by a later rename.
        (["Web"], r"The slug 'web' already means something else in compose.yaml \(line \d+: .*--slug web_app"),
        (["Acme", "--slug", "redis"], "'redis' already means something else in compose.yaml"),
    ],
)
def test_an_invalid_name_is_refused_with_a_clear_message(args, message):
    before = (REPO / "config" / "config.py").read_text()
    with pytest.raises(CommandError, match=message):
        call_command("rename_project", *args)
    assert (REPO / "config" / "config.py").read_text() == before


def test_name_and_slug_change_everywhere_in_one_step(renamed_copy):
    copy, before, result = renamed_copy
    old_slug = read_identity(before["config/config.py"]).slug
    config = (copy / "config" / "config.py").read_text()
    assert f'project_name: str = "{NAME}"' in config and f'project_slug: str = "{SLUG}"' in config
    assert (copy / "README.md").read_text().splitlines()[0] == f"# {NAME}"
    assert f'name = "{SLUG.replace("_", "-")}"' in (copy / "pyproject.toml").read_text()
    for name in IDENTITY_FILES:
        text = (copy / name).read_text()
        assert old_slug not in text, f"{name} still names {old_slug}"
    compose = (copy / "compose.yaml").read_text()
    assert f"name: {SLUG}" in compose and f"image: {SLUG}:dev" in compose
    assert f"db:5432/{SLUG}" in compose and f"POSTGRES_DB: {SLUG}" in compose
    assert "Renamed" in result.stdout


def test_running_it_twice_is_harmless(renamed_copy):
    copy, _, _ = renamed_copy
    after_first = {name: (copy / name).read_text() for name in IDENTITY_FILES}
    again = run([PYTHON, "manage.py", "rename_project", NAME], copy, DJANGO_ENV="test")
    assert again.returncode == 0, again.stderr
    assert f"already named {NAME!r}" in again.stdout
    assert {name: (copy / name).read_text() for name in IDENTITY_FILES} == after_first


def test_the_renamed_copy_checks_and_passes_a_quick_test_subset(renamed_copy):
    copy, _, _ = renamed_copy
    check = run([PYTHON, "manage.py", "check"], copy, DJANGO_ENV="development")
    assert check.returncode == 0, check.stdout + check.stderr
    for files in (["compose.yaml"], ["compose.prod.yaml"]):
        assert compose_config(*files, cwd=copy).returncode == 0
    tests = run(
        [PYTHON, "-m", "pytest", "-q", "tests/test_health.py", "tests/test_docs.py", "tests/deploy/test_compose.py"],
        copy,
        DJANGO_ENV="test",
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert " passed" in tests.stdout
