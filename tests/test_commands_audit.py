"""What every management command of the project owes its user (issue 15, item 6): `--help` that says what it does,
exit 1 with one readable line when it fails, and a test of its success and of its failure.

The tests of each command live beside it (tests/test_commands.py, apps/<app>/tests/, modules/<m>/tests/); this
module holds the checks made of all of them at once, and the success or failure tests that were missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import CommandError

BASE_DIR = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = frozenset({"cfg", "apps", "modules", "config"})
PROJECT_COMMANDS = sorted((name, app) for name, app in get_commands().items() if app.split(".")[0] in PROJECT_PACKAGES)


def flat(text: str) -> str:
    return " ".join(text.split())


# --help


@pytest.mark.parametrize(("name", "app"), PROJECT_COMMANDS, ids=[name for name, _ in PROJECT_COMMANDS])
def test_help_says_what_the_command_does(name: str, app: str) -> None:
    command = load_command_class(app, name)
    summary = flat(command.help)
    assert len(summary.split()) >= 5, f"{name}: its help is {command.help!r}; say what it does in a sentence"
    # What `manage.py NAME --help` prints (argparse also refuses a help with a stray % here).
    shown = flat(command.create_parser("manage.py", name).format_help())
    assert summary in shown
    assert shown.startswith(f"usage: manage.py {name}")


# One readable line and exit 1. Django prints a CommandError as the one line "CommandError: <message>" and exits
# with its returncode (1): a message without a line break is one line. Each failure below is a refusal of the
# command's input or of the environment it runs in.

FAILURES: dict[str, tuple[list[str], str]] = {
    "runserver_ngrok": (["runserver_ngrok"], "runserver_ngrok is for development only (DJANGO_ENV is test)"),
    "show_config": (["show_config", "--section", "nope"], "no section 'nope'; choose one of: core, databases, cache,"),
    "rename_project": (["rename_project", " "], "The project name is empty."),
    "create_dev_superuser": (["create_dev_superuser"], "create_dev_superuser runs in development only (this is test)"),
    "test_email": (["test_email", "nope"], "'nope' is not an email address"),
    "test_telegram": (["test_telegram"], "no chat to message: pass --chat-id or set TELEGRAM__CHAT_ID"),
    "test_twilio": (["test_twilio", "555-1234"], "'555-1234' is not an E.164 phone number"),
    "task_clear": (["task_clear"], "say what to clear: --queue NAME and/or --older-than DAYS"),
    "task_sweep": (["task_sweep"], "the immediate backend keeps no queue"),
    "task_retry": (["task_retry", "no-such-run"], "no run with id 'no-such-run'"),
    "rearq_worker": (["rearq_worker"], "TASKS['default'] uses ImmediateBackend, which runs no worker"),
    "leads_stats": (["leads_stats", "--days", "0"], "--days must be from 1 to 36500"),
    "agent_stats": (["agent_stats", "--days", "0"], "--days must be 1 or more"),
    "knowbase_search": (["knowbase_search", " "], "the query is empty"),
    "knowbase_evaluate": (["knowbase_evaluate", "--k", "0"], "--k must be from 1 to 50"),
    "newsletter_send": (["newsletter_send"], "name the campaign to send (its id or name), or give --due"),
}


@pytest.fixture
def immediate_tasks_and_no_chat(settings) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.TELEGRAM = {**settings.TELEGRAM, "CHAT_ID": ""}


@pytest.mark.django_db
@pytest.mark.usefixtures("immediate_tasks_and_no_chat")
@pytest.mark.parametrize("name", sorted(FAILURES))
def test_a_failure_is_one_readable_line(name: str) -> None:
    args, message = FAILURES[name]
    with pytest.raises(CommandError) as failed:
        call_command(*args, stdout=StringIO(), stderr=StringIO())
    assert failed.value.returncode == 1
    assert str(failed.value).startswith(message)
    assert "\n" not in str(failed.value)


def test_every_failure_above_is_a_project_command() -> None:
    assert set(FAILURES) <= {name for name, _ in PROJECT_COMMANDS}


CLI_FAILURES = ("show_config", "test_email")


def test_through_manage_py_a_failure_exits_1_with_that_one_line() -> None:
    """As a person or a script runs them (each run is a Python start-up of a few seconds: they run side by side)."""
    dropped = ("PYTEST", "TELEGRAM__")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    environ["DJANGO_ENV"] = "test"

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120
        )

    with ThreadPoolExecutor(max_workers=len(CLI_FAILURES)) as pool:
        results = dict(zip(CLI_FAILURES, pool.map(run, [FAILURES[name][0] for name in CLI_FAILURES]), strict=True))
    for name, result in results.items():
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.count("\n") == 1, f"{name} printed more than one line on failure:\n{result.stderr}"
        assert result.stderr.startswith(f"CommandError: {FAILURES[name][1]}"), result.stderr


# The success or failure tests that no command's own tests had.


def test_validate_config_says_a_valid_configuration_is_valid() -> None:
    out = StringIO()
    call_command("validate_config", stdout=out)
    assert out.getvalue() == "Configuration is valid (test).\n"


@pytest.mark.django_db
def test_create_dev_superuser_creates_one_superuser_and_keeps_its_credentials(settings, tmp_path: Path) -> None:
    settings.ENVIRONMENT = "development"
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("create_dev_superuser", stdout=out)
    credentials = tmp_path / "dev-superuser.txt"
    email, password = (line.split(": ", 1)[1] for line in credentials.read_text().splitlines())
    assert email == "admin@example.com"
    assert f"password: {password}" in out.getvalue()
    assert credentials.stat().st_mode & 0o777 == 0o600
    user = get_user_model().objects.get(email=email)
    assert user.is_superuser and user.check_password(password)

    again = StringIO()
    call_command("create_dev_superuser", stdout=again)
    assert again.getvalue() == f"A superuser exists already (credentials in {credentials}).\n"
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db
def test_create_dev_superuser_refuses_outside_development(settings, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    with pytest.raises(CommandError, match=r"^create_dev_superuser runs in development only \(this is test\)$"):
        call_command("create_dev_superuser")
    assert not get_user_model().objects.exists()
    assert not (tmp_path / "dev-superuser.txt").exists()


@pytest.mark.django_db
def test_knowbase_stats_says_when_the_embedder_cannot_be_built(settings) -> None:
    settings.LLM = {**settings.LLM, "EMBEDDING_PROVIDER": "nonexistent"}
    with pytest.raises(CommandError) as failed:
        call_command("knowbase_stats", stdout=StringIO())
    assert str(failed.value) == "the embedder could not be built: unknown LLM__EMBEDDING_PROVIDER 'nonexistent'"


@pytest.mark.django_db
def test_knowbase_evaluate_refuses_a_k_out_of_range() -> None:
    for k in ("0", "51"):
        with pytest.raises(CommandError, match=r"^--k must be from 1 to 50$"):
            call_command("knowbase_evaluate", "--k", k, stdout=StringIO())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.django_db
def test_task_status_says_when_redis_is_unreachable(settings) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/10"
    settings.TASKS = {
        "default": {"BACKEND": "apps.tasks.backends.ReArqBackend", "QUEUES": ["default"], "OPTIONS": {"redis_url": url}}
    }
    with pytest.raises(CommandError) as failed:
        call_command("task_status", stdout=StringIO())
    assert "is unreachable" in str(failed.value) and "\n" not in str(failed.value)


@pytest.mark.django_db
def test_task_status_with_the_immediate_backend_says_there_is_no_queue() -> None:
    out = StringIO()
    call_command("task_status", stdout=out)
    assert "Backend: immediate (tasks run inline; there is no queue and no worker)" in out.getvalue()
    assert "Failed in the last 24 hours: 0" in out.getvalue()


DATABASE_COMMANDS = ["leads_stats", "agent_stats", "knowbase_stats", "newsletter_stats", "task_retry"]


def test_a_database_that_cannot_be_reached_ends_a_command_with_one_line() -> None:
    """Each command that reads the database, run as a person runs it against a stopped server: exit 1 and one line
    naming the cause, no traceback (cfg.management.base.ProjectCommand)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "DATABASE"))}
    environ.update(DJANGO_ENV="test", DATABASE_URL=f"postgres://app:pw@127.0.0.1:{_closed_port()}/nowhere")

    def run(name: str) -> subprocess.CompletedProcess[str]:
        args = [name, "1"] if name == "task_retry" else [name]
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environ, capture_output=True, text=True, timeout=120
        )

    with ThreadPoolExecutor(max_workers=len(DATABASE_COMMANDS)) as pool:
        results = dict(zip(DATABASE_COMMANDS, pool.map(run, DATABASE_COMMANDS), strict=True))
    for name, result in results.items():
        assert result.returncode == 1, f"{name}: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, f"{name}:\n{result.stderr}"
        assert result.stderr.startswith("CommandError: the database refused the command: "), result.stderr
