"""docs/commands.md lists every management command of the project, and only commands that exist.

A command is the project's own when the app that holds it (django.core.management.get_commands() maps each name
to it) is a package of this repository: cfg, apps.*, modules.* or config.*. Django's and the libraries' commands
need no row; the table names two of django-extensions' (show_urls, shell_plus) and no other library's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from django.core.management import get_commands

BASE_DIR = Path(__file__).resolve().parent.parent
TABLE = BASE_DIR / "docs" / "commands.md"
PROJECT_PACKAGES = frozenset({"cfg", "apps", "modules", "config"})
SHARED_GROUPS = ("database", "configuration", "tasks", "communication", "development")
APP_GROUPS = ("accounts", "knowbase", "agents", "leads", "newsletter", "support")
LIBRARY_ROWS = frozenset({"show_urls", "shell_plus"})
ROW = re.compile(r"^\| `(?P<name>[a-z0-9_]+)` \| (?P<group>[a-z_]+) \| (?P<what>[^|]+) \| `(?P<example>[^`]+)` \|$")


class Row(NamedTuple):
    name: str
    group: str
    what: str
    example: str


def table_rows() -> list[Row]:
    lines = [line for line in TABLE.read_text().splitlines() if line.startswith("| `")]
    rows = []
    for line in lines:
        match = ROW.match(line)
        assert match, f"docs/commands.md: a row that is not | `name` | group | what it does | `example` |: {line}"
        rows.append(Row(match["name"], match["group"], match["what"].strip(), match["example"]))
    return rows


def is_own(app: str) -> bool:
    return app.split(".")[0] in PROJECT_PACKAGES


def own_commands() -> dict[str, str]:
    return {name: app for name, app in get_commands().items() if is_own(app)}


def test_every_project_command_has_a_row() -> None:
    listed = {row.name for row in table_rows()}
    missing = sorted(f"{name} ({app})" for name, app in own_commands().items() if name not in listed)
    assert not missing, f"add a row to docs/commands.md for: {', '.join(missing)}"


def test_every_row_names_a_command_that_exists() -> None:
    commands = get_commands()
    for row in table_rows():
        app = commands.get(row.name)
        assert app is not None, f"docs/commands.md lists {row.name}, which no installed app provides"
        if row.name in LIBRARY_ROWS:
            assert app == "django_extensions", f"{row.name} comes from {app}, not django-extensions"
        else:
            assert is_own(app), f"{row.name} is {app}'s command, not the project's: drop its row"


def test_each_command_has_one_row_in_a_known_group() -> None:
    rows = table_rows()
    names = [row.name for row in rows]
    assert len(names) == len(set(names)), "a command is listed twice"
    commands = get_commands()
    for row in rows:
        assert row.group in (*SHARED_GROUPS, *APP_GROUPS), f"{row.name}: unknown group {row.group!r}"
        # An app's group holds that app's own commands; shared groups take any.
        if row.group in APP_GROUPS:
            assert commands.get(row.name) == f"apps.{row.group}", f"{row.name} is not a command of apps.{row.group}"
        assert row.what, f"{row.name}: say what it does"
        assert row.example.split()[:3] == ["python", "manage.py", row.name], f"{row.name}: the example runs it"
    # Groups appear in the order of the table's reading: shared groups first, then the apps'.
    order = [*SHARED_GROUPS, *APP_GROUPS]
    positions = [order.index(row.group) for row in rows]
    assert positions == sorted(positions), "keep the rows grouped, in the order of docs/commands.md's groups"


def test_the_table_matches_manage_py_help() -> None:
    """What a person sees with `manage.py help --commands`: the project's commands there are the table's."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    rows = {row.name for row in table_rows()}
    assert rows <= listed, f"in docs/commands.md but not in manage.py help: {sorted(rows - listed)}"
    own = set(own_commands())
    assert own <= listed
    assert own == rows - LIBRARY_ROWS


@pytest.mark.parametrize("name", sorted(LIBRARY_ROWS))
def test_the_library_rows_say_where_they_come_from(name: str) -> None:
    row = next(row for row in table_rows() if row.name == name)
    assert row.group == "development" and "(django-extensions)" in row.what
    assert "django-extensions adds more in development" in TABLE.read_text()
