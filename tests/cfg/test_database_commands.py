"""check_databases, migrate_all and migrator on two aliases: the test database and a second database on the same
server (created for each test, dropped after), with apps routed to it as the `databases` config routes them.

tasks and cfg are the apps routed there: their migrations depend on no other app's tables, and cfg's creates
pgvector's extension, so the second database needs `vector` too.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from psycopg import sql

from cfg.settings.database import parse_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
ROUTED = ["cfg", "tasks"]
ROUTED_MIGRATIONS = ["cfg.0001_pgvector", "tasks.0001_initial"]


def server_params() -> dict[str, Any]:
    """How to reach the test database's server (the embedded one listens on a unix socket)."""
    params = connections["default"].get_connection_params()
    return {key: params[key] for key in ("host", "port", "user", "password") if params.get(key)}


def database_url(name: str) -> str:
    params = server_params()
    auth = quote(params.get("user", ""), safe="") + (
        f":{quote(params['password'], safe='')}" if "password" in params else ""
    )
    host = str(params.get("host", ""))
    if host.startswith("/"):
        return f"postgres://{auth}@/{name}?host={quote(host, safe='')}"
    return f"postgres://{auth}@{host}{f':{params["port"]}' if 'port' in params else ''}/{name}"


def closed_port() -> int:
    """A loopback port nothing listens on: a stopped server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def on_server(statement: sql.Composed, dbname: str = "postgres") -> None:
    with psycopg.connect(**server_params(), dbname=dbname, autocommit=True) as connection:
        connection.execute(statement)


def query(name: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(**server_params(), dbname=name) as connection:
        return connection.execute(statement).fetchall()


def tables(name: str) -> set[str]:
    return {row[0] for row in query(name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@pytest.fixture
def database_access(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test database, outside a test case's transaction: these commands connect to aliases added during the
    test, which a test case refuses, and what they migrate is checked from connections of other processes. They
    write nothing to the test database: the aliases they migrate or roll back are the second database."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def second_database(database_access: None) -> Iterator[str]:
    name = f"dbcmds_{uuid.uuid4().hex[:12]}"
    on_server(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        on_server(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Aliases:
    """Extra aliases added to the process's connections, as DATABASES__<ALIAS>__URL would add them."""

    def __init__(self) -> None:
        self.added: list[str] = []

    def add(self, alias: str, url: str) -> None:
        settings_dict = parse_database_url(url, conn_max_age=0)
        connections.settings[alias] = connections.configure_settings({"default": {}, alias: settings_dict})[alias]
        self.added.append(alias)

    def remove_all(self) -> None:
        for alias in self.added:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


@pytest.fixture
def aliases(database_access: None, settings: Any) -> Iterator[Aliases]:
    found = Aliases()
    settings.DATABASE_ROUTERS = ["cfg.db.router.AppDatabaseRouter"]
    try:
        yield found
    finally:
        found.remove_all()


@pytest.fixture
def analytics(second_database: str, aliases: Aliases, settings: Any) -> str:
    """The alias `analytics` on the second database, with tasks and cfg routed to it."""
    aliases.add("analytics", database_url(second_database))
    settings.DATABASE_APPS_MAPPING = dict.fromkeys(ROUTED, "analytics")
    return second_database


def run(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def failure(*args: str, **options: Any) -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=out, stderr=StringIO(), **options)
    message = str(raised.value)
    assert "\n" not in message
    return out.getvalue(), message


def check_report() -> dict[str, Any]:
    out = StringIO()
    with contextlib.suppress(CommandError):
        call_command("check_databases", json=True, stdout=out)
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def by_alias(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["alias"]: entry for entry in report["databases"]}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """manage.py in a process of its own, on the test database and the given extra aliases."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST", "DATABASE", "DB_"))
    }
    test_database = connections["default"].settings_dict["NAME"]
    return {**environ, "DJANGO_ENV": "test", "DATABASE_URL": database_url(test_database), **extra}


# --- check_databases --------------------------------------------------------------------------------------------


def test_check_databases_reports_each_alias_and_migrate_all_migrates_both(analytics):
    out, message = failure("check_databases")
    assert message == (
        f"Database 'analytics' is not ready: {len(ROUTED_MIGRATIONS)} unapplied migration(s); "
        "run python manage.py migrate_all"
    )
    assert "default" in out and "analytics" in out and "cfg, tasks" in out
    before = by_alias(check_report())
    assert before["analytics"]["unapplied_migrations"] == ROUTED_MIGRATIONS
    assert before["analytics"]["required_extensions"] == {"vector": ["cfg"]}
    assert before["analytics"]["routed_apps"] == ROUTED and before["default"]["routed_apps"] == []
    assert before["default"]["ready"] is True

    summary = run("migrate_all")

    assert re.search(r"default\s+│\s+all others\s+│\s+0\s", summary), summary
    assert re.search(r"analytics\s+│\s+cfg, tasks\s+│\s+2\s", summary), summary
    assert {"tasks_taskrun", "django_migrations"} <= tables(analytics)
    assert "accounts_user" not in tables(analytics)  # the router keeps the other apps out
    assert query(analytics, "SELECT extname FROM pg_extension WHERE extname = 'vector'") == [("vector",)]

    report = check_report()
    assert report["ready"] is True
    after = by_alias(report)
    assert list(after) == ["default", "analytics"]
    for entry in after.values():
        assert entry["reachable"] and entry["ready"] and entry["unapplied_migrations"] == []
        assert entry["server_version"] and entry["latency_ms"] is not None
        assert "vector" in entry["extensions"]
    assert "vector" in after["default"]["required_extensions"]  # knowbase's embeddings live there
    assert "Databases" in run("check_databases")


@pytest.mark.usefixtures("database_access")
def test_check_databases_names_the_alias_on_a_stopped_server():
    port = closed_port()
    result = manage(
        "check_databases", env={"DATABASES__ANALYTICS__URL": f"postgres://app:pw@127.0.0.1:{port}/analytics"}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"CommandError: Database 'analytics' is not ready: connection refused at 127.0.0.1:{port}"
    ]
    assert "analytics" in result.stdout and "connection refused" in result.stdout
    assert "pw" not in result.stdout


def test_check_databases_json_names_every_alias_not_ready(aliases):
    first, second = closed_port(), closed_port()
    aliases.add("reports", f"postgres://app:pw@127.0.0.1:{first}/reports")
    aliases.add("archive", f"postgres://app:pw@127.0.0.1:{second}/archive")
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check_databases", json=True, stdout=out)
    assert str(raised.value) == (
        f"2 databases are not ready: 'reports' (connection refused at 127.0.0.1:{first}); "
        f"'archive' (connection refused at 127.0.0.1:{second})"
    )
    report = by_alias(json.loads(out.getvalue()))
    assert report["default"]["ready"] is True
    assert report["reports"]["reachable"] is False and report["reports"]["server_version"] is None


# --- migrate_all ------------------------------------------------------------------------------------------------


def test_migrate_all_stops_at_the_alias_that_fails(second_database, aliases, settings):
    port = closed_port()
    aliases.add("broken", f"postgres://app:pw@127.0.0.1:{port}/broken")
    aliases.add("analytics", database_url(second_database))
    settings.DATABASE_APPS_MAPPING = dict.fromkeys(ROUTED, "analytics")

    out, message = failure("migrate_all")

    assert message == (
        f"Migrating database 'broken' failed: connection refused at 127.0.0.1:{port}; not migrated after it: analytics"
    )
    assert "default" in out and "failed: connection refused" in out
    assert tables(second_database) == set()  # nothing after the failed alias


@pytest.mark.usefixtures("database_access")
def test_migrate_all_exits_1_with_one_line():
    port = closed_port()
    result = manage("migrate_all", env={"DATABASES__ANALYTICS__URL": f"postgres://app:pw@127.0.0.1:{port}/a"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"CommandError: Migrating database 'analytics' failed: connection refused at 127.0.0.1:{port}"
    ]
    assert re.search(r"default\s+│\s+all\s+│\s+0\s.*ok", result.stdout), result.stdout


# --- migrator ---------------------------------------------------------------------------------------------------


def test_migrator_plan_and_migrate_one_alias(analytics):
    plan = run("migrator", plan=True)
    assert "up to date" in plan and all(name in plan for name in ROUTED_MIGRATIONS)
    only = run("migrator", plan=True, database="analytics")
    assert "analytics" in only and "default" not in only

    migrated = run("migrator", migrate=True, database="analytics")

    assert re.search(r"analytics\s+│\s+cfg, tasks\s+│\s+2\s", migrated), migrated
    assert "tasks_taskrun" in tables(analytics)
    assert "up to date" in run("migrator", plan=True, database="analytics")
    assert ROUTED_MIGRATIONS[0] not in run("migrator", plan=True)


def test_migrator_migrate_all(analytics):
    summary = run("migrator", migrate=True, all=True)
    assert "default" in summary and re.search(r"analytics\s+│\s+cfg, tasks\s+│\s+2\s", summary)
    assert "tasks_taskrun" in tables(analytics)


def test_migrator_rolls_back_with_yes_and_refuses_without_it_in_a_script(analytics):
    run("migrate_all")

    _, message = failure("migrator", rollback=["tasks", "zero"], database="analytics")
    assert message == "rolling back needs a confirmation: run it in a terminal, or add --yes"
    assert "tasks_taskrun" in tables(analytics)

    # The app's own alias is the default one for --rollback.
    output = run("migrator", rollback=["tasks", "zero"], yes=True)

    assert "tasks.0001_initial" in output and "1 migration(s) unapplied" in output
    assert "tasks_taskrun" not in tables(analytics)
    assert query(analytics, "SELECT app FROM django_migrations WHERE app IN ('cfg', 'tasks')") == [("cfg",)]
    assert "tasks.0001_initial" in run("migrator", plan=True, database="analytics")


@pytest.mark.parametrize(
    ("rollback", "database", "expected"),
    [
        (
            ["tasks", "zero"],
            "default",
            "app 'tasks' does not live in database 'default' (the router sends it to 'analytics'); "
            "use --database analytics",
        ),
        (["nothing", "zero"], "analytics", "app 'nothing' has no migrations; apps with migrations: "),
        (["tasks", "0099"], "analytics", "app 'tasks' has no migration '0099'"),
        (["tasks", "0001"], "analytics", "tasks.0001_initial is not applied in 'analytics': nothing to roll back to"),
        (["tasks", "zero"], "elsewhere", "unknown database 'elsewhere'; configured: default, analytics"),
    ],
)
def test_migrator_refuses_a_rollback_it_cannot_do(analytics, rollback, database, expected):
    _, message = failure("migrator", rollback=rollback, database=database, yes=True)
    assert message.startswith(expected)


def test_migrator_plan_names_an_unreachable_alias(analytics, aliases):
    port = closed_port()
    aliases.add("broken", f"postgres://app:pw@127.0.0.1:{port}/broken")
    out, message = failure("migrator", plan=True)
    assert message == f"Database 'broken' is not reachable: connection refused at 127.0.0.1:{port}"
    assert "unreachable: connection refused" in out and ROUTED_MIGRATIONS[0] in out


def test_migrator_flags_that_do_not_go_together(analytics):
    assert failure("migrator", migrate=True)[1] == "--migrate needs either --database ALIAS or --all"
    assert failure("migrator", all=True)[1] == "--all goes with --migrate"


def test_migrator_without_a_terminal_prints_the_plan_and_the_flags(analytics):
    output = run("migrator")
    assert "Migration plan" in output and ROUTED_MIGRATIONS[1] in output
    assert "Not a terminal, so no menu: use --plan" in output


# --- migrator's menu, in a pseudo-terminal --------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    """manage.py in a pseudo-terminal: what it prints is read up to an expected text, answers are typed."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, child = pty.openpty()
        self.process = subprocess.Popen(
            args, cwd=BASE_DIR, env={**env, "COLUMNS": "160", "TERM": "xterm"}, stdin=child, stdout=child, stderr=child
        )
        os.close(child)
        self.seen = ""

    def expect(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.master], [], [], remaining)[0]:
                raise AssertionError(f"{text!r} did not appear; the terminal shows:\n{self.seen[-3000:]}")
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the command ended before {text!r}; it showed:\n{self.seen[-3000:]}")
            self.seen += ANSI.sub("", chunk.decode(errors="replace"))
        shown, self.seen = self.seen, self.seen[self.seen.index(text) + len(text) :]
        return shown

    def type(self, answer: str) -> None:
        os.write(self.master, f"{answer}\n".encode())

    def close(self) -> int:
        try:
            return self.process.wait(timeout=60)
        finally:
            os.close(self.master)


def test_migrator_menu_migrates_and_rolls_back_after_confirmation(second_database):
    env = subprocess_env(
        {"DATABASES__ANALYTICS__URL": database_url(second_database), "DATABASES__ANALYTICS__APPS": ",".join(ROUTED)}
    )
    terminal = Terminal([sys.executable, "manage.py", "migrator"], env)
    try:
        menu = terminal.expect("Choice")
        assert "Databases: default (all others), analytics (cfg, tasks)" in menu
        terminal.type("1")
        plan = terminal.expect("Choice")
        assert "Migration plan" in plan and "tasks.0001_initial" in plan
        terminal.type("3")
        assert "Migrations" in terminal.expect("Choice")
        assert "tasks_taskrun" in tables(second_database)
        terminal.type("4")
        terminal.expect("Database")
        terminal.type("analytics")
        terminal.expect("App")
        terminal.type("tasks")
        terminal.expect("Roll back to")
        terminal.type("zero")
        asked = terminal.expect("Their tables and data may be lost")
        assert "tasks.0001_initial" in asked
        terminal.type("n")
        assert "aborted; nothing was rolled back" in terminal.expect("Choice")
        assert "tasks_taskrun" in tables(second_database)
        terminal.type("4")
        for prompt, answer in (("Database", "analytics"), ("App", "tasks"), ("Roll back to", "zero")):
            terminal.expect(prompt)
            terminal.type(answer)
        terminal.expect("may be lost")
        terminal.type("y")
        assert "1 migration(s) unapplied" in terminal.expect("Choice")
        terminal.type("q")
    finally:
        code = terminal.close()
    assert code == 0
    assert "tasks_taskrun" not in tables(second_database)
