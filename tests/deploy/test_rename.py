"""rename_project, run on a copy of the repository: one step, three lines in two files, idempotent, and the copy
still works."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from cfg.management.commands.rename_project import read_identity, slugify
from tests.deploy.conftest import PYTHON, REPO, compose_config, copy_of_repository

# A name the checkout does not have yet (it may have been renamed to the first one already).
_CURRENT = read_identity((REPO / "config" / "config.py").read_text())
NAME, SLUG = ("Zenith Labs", "zenith_labs") if _CURRENT.slug == "acme_rocket" else ("Acme Rocket", "acme_rocket")
# What a rename may change (the bound); it changes the first two today. .env is git-ignored.
MAY_CHANGE = {"config/config.py", "pyproject.toml", ".env.example"}


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    environment.update(env)
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


def git(repo: Path, *args: str) -> str:
    """git in a repository of the test's own, deaf to the user's and the machine's git configuration."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    result = subprocess.run(["git", *args], cwd=repo, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def committed_copy(target: Path) -> Path:
    """A git repository whose one commit, on `main`, is the working tree: what a team gets from `git clone`."""
    copy_of_repository(target)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "upstream")
    return target


def rename(repo: Path, *args: str) -> str:
    """rename_project run on `repo`, in this process: the command reads and writes files under settings.BASE_DIR."""
    out = io.StringIO()
    with override_settings(BASE_DIR=repo):
        call_command("rename_project", *args, stdout=out)
    return out.getvalue()


def changed_files(repo: Path) -> set[str]:
    return {line[3:] for line in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()}


@pytest.fixture(scope="module")
def renamed_copy() -> Iterator[tuple[Path, str]]:
    # Not under pytest's temporary root: every pytest session that starts (the copy's own test run, or another run
    # on the machine) chmods /tmp/pytest-of-<user> back to 0700, and the copy's embedded PostgreSQL, which runs as
    # its own system user when we are root, could then no longer reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="renamed-copy-"))
    try:
        copy = committed_copy(root / "checkout")
        yield copy, rename(copy, NAME)
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
    ],
)
def test_an_invalid_name_is_refused_with_a_clear_message(args, message):
    before = (REPO / "config" / "config.py").read_text()
    with pytest.raises(CommandError, match=message):
        call_command("rename_project", *args)
    assert (REPO / "config" / "config.py").read_text() == before


def test_no_file_but_the_identity_files_names_the_project():
    """What rename_project does not rewrite must not carry the slug: it would go stale in a renamed clone. Compose,
    the Dockerfile, the env examples and the docs take the name from elsewhere or say "your project"."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: no list of the files a clone holds")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    slug_forms = re.compile(rf"(?<![A-Za-z0-9_-])({_CURRENT.slug}|{_CURRENT.package})(?![A-Za-z0-9_-])")
    carrying = set()
    for name in filter(None, listed):
        path = REPO / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if slug_forms.search(text):
            carrying.add(name)
    assert carrying <= {"config/config.py", "pyproject.toml"}, (
        f"{sorted(carrying - {'config/config.py', 'pyproject.toml'})} name the project's slug {_CURRENT.slug!r}, "
        "which rename_project does not rewrite there: take it from config/config.py or .env, or say 'your project'"
    )


@pytest.mark.slow
def test_a_rename_changes_three_lines_in_two_files(renamed_copy):
    copy, output = renamed_copy
    assert changed_files(copy) <= MAY_CHANGE
    assert changed_files(copy) == {"config/config.py", "pyproject.toml"}
    numstat = [line.split("\t") for line in git(copy, "diff", "--numstat").splitlines()]
    assert sorted((name, added, removed) for added, removed, name in numstat) == [
        ("config/config.py", "2", "2"),
        ("pyproject.toml", "1", "1"),
    ]
    config = (copy / "config" / "config.py").read_text()
    assert f'project_name: str = "{NAME}"' in config and f'project_slug: str = "{SLUG}"' in config
    assert f'name = "{SLUG.replace("_", "-")}"' in (copy / "pyproject.toml").read_text()
    assert f"Renamed {_CURRENT.name!r} ({_CURRENT.slug}) to {NAME!r} ({SLUG})." in output
    assert "Compose is not affected" in output


@pytest.mark.slow
def test_running_it_twice_is_harmless(renamed_copy):
    copy, _ = renamed_copy
    before = git(copy, "diff")
    assert f"already named {NAME!r}" in rename(copy, NAME)
    assert git(copy, "diff") == before


@pytest.mark.slow
def test_a_dry_run_lists_the_files_and_writes_nothing(tmp_path):
    copy = committed_copy(tmp_path / "checkout")
    output = rename(copy, NAME, "--dry-run")
    assert "Would change config/config.py" in output and "Would change pyproject.toml" in output
    assert changed_files(copy) == set()


@pytest.mark.slow
def test_a_dotenv_that_overrides_the_identity_is_pointed_out(tmp_path):
    copy = committed_copy(tmp_path / "checkout")
    (copy / ".env").write_text("DEBUG=true\nPROJECT_SLUG=old_slug\n")
    assert "Note: .env sets PROJECT_SLUG, which wins over config/config.py" in rename(copy, NAME)


@pytest.mark.slow
def test_the_renamed_copy_checks_and_passes_a_quick_test_subset(renamed_copy):
    copy, _ = renamed_copy
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
