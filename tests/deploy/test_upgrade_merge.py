"""An upgrade as a team does it: clone, rename, customise an app, later `git merge` upstream's changes. The merge
must be clean: a rename touches only config/config.py's two identity lines and pyproject.toml's name, so upstream
changes to every other line, the README's generated table, compose, docs and env examples included, apply as is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.conftest import app_services, compose_config
from tests.deploy.test_rename import NAME, SLUG, committed_copy, git, rename

pytestmark = pytest.mark.slow

CUSTOMISED = "apps/accounts/services.py"
CUSTOMISATION = '\n\ndef account_greeting(*, name: str) -> str:\n    return f"Welcome aboard, {name}"\n'


def edit(repo: Path, name: str, old: str, new: str) -> None:
    path = repo / name
    text = path.read_text()
    assert old in text, f"{name} no longer holds {old!r}: update this test's simulated upstream change"
    path.write_text(text.replace(old, new, 1))


def append(repo: Path, name: str, line: str) -> None:
    path = repo / name
    path.write_text(path.read_text().rstrip("\n") + "\n" + line + "\n")


def upstream_release(repo: Path) -> None:
    """A later upstream change, to files the team did not edit, on lines next to those that used to carry the
    name: a new row in the README's generated environment table, compose, the env examples, the docs."""
    edit(
        repo,
        "README.md",
        "| `PROJECT_SLUG` | `(set in config/config.py)` |  | Lower-case Python identifier |\n",
        "| `PROJECT_SLUG` | `(set in config/config.py)` |  | Lower-case Python identifier |\n"
        "| `PROJECT_TAGLINE` | `(empty)` |  | A new upstream field |\n",
    )
    edit(repo, "compose.yaml", "    REDIS_URL: redis://redis:6379/0\n", "    REDIS_URL: redis://redis:6379/1\n")
    edit(
        repo,
        "compose.prod.yaml",
        "      POSTGRES_DB: ${POSTGRES_DB:-app}\n",
        "      POSTGRES_DB: ${POSTGRES_DB:-app}\n      POSTGRES_INITDB_ARGS: --data-checksums\n",
    )
    edit(repo, ".env.example", "# REDIS_URL=redis://127.0.0.1:6379/0\n", "# REDIS_URL=redis://127.0.0.1:6379/2\n")
    edit(repo, "docker/prod.env.example", "SITE_DOMAIN=example.com\n", "SITE_DOMAIN=example.org\n")
    edit(repo, "docker/hybrid.env", "REDIS_URL=redis://127.0.0.1:6379/0\n", "REDIS_URL=redis://127.0.0.1:6379/1\n")
    edit(repo, "docs/deploy.md", "# Docker, hybrid development and deployment\n", "# Docker and deployment\n")
    config = (repo / "config" / "config.py").read_text().split("\n", 1)
    (repo / "config" / "config.py").write_text('"""The project\'s configuration (upstream reworded)."""\n' + config[1])
    append(repo, "config/config.py", "# An upstream line at the end of the file.")
    append(repo, "pyproject.toml", "# An upstream line at the end of the file.")
    append(repo, "cfg/__init__.py", "# An upstream change to the framework.")
    append(repo, "apps/accounts/models.py", "# An upstream change to an app file the team did not edit.")


def test_a_renamed_and_customised_clone_merges_a_later_upstream_release_cleanly(tmp_path):
    repo = committed_copy(tmp_path / "myproduct")

    git(repo, "switch", "-q", "-c", "user")
    rename(repo, NAME)
    append(repo, CUSTOMISED, CUSTOMISATION.strip("\n"))
    git(repo, "commit", "-q", "-am", "Our product: renamed, and a greeting of our own")

    git(repo, "switch", "-q", "main")
    upstream_release(repo)
    git(repo, "commit", "-q", "-am", "Upstream: a later release")
    upstream = {name: (repo / name).read_text() for name in git(repo, "diff", "--name-only", "HEAD~1").split()}

    git(repo, "switch", "-q", "user")
    git(repo, "merge", "-q", "--no-edit", "main")  # fails the test, naming the conflict, if there is one
    assert git(repo, "status", "--porcelain") == ""

    config = (repo / "config" / "config.py").read_text()
    assert f'project_name: str = "{NAME}"' in config and f'project_slug: str = "{SLUG}"' in config
    assert "(upstream reworded)" in config and config.endswith("# An upstream line at the end of the file.\n")
    assert f'name = "{SLUG.replace("_", "-")}"' in (repo / "pyproject.toml").read_text()
    assert "def account_greeting(*, name: str) -> str:" in (repo / CUSTOMISED).read_text()
    for name, text in upstream.items():
        if name not in ("config/config.py", "pyproject.toml"):
            assert (repo / name).read_text() == text, f"{name} is not upstream's after the merge"

    merged = compose_config("compose.yaml", cwd=repo)
    assert merged.returncode == 0, merged.stderr
    project = json.loads(merged.stdout)
    assert project["name"] == "myproduct"
    assert all(service["environment"]["REDIS_URL"].endswith("/1") for service in app_services(project).values())
