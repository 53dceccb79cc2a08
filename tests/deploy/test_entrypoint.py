"""docker/entrypoint.sh run natively: waits for the database, execs the command, passes SIGTERM on."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from tests.deploy.conftest import PYTHON, REPO

ENTRYPOINT = str(REPO / "docker" / "entrypoint.sh")
UNREACHABLE = "postgres://nobody@127.0.0.1:1/nothing"


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["PATH"] = f"{Path(PYTHON).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env["DJANGO_ENV"] = "test"
    return {**env, **extra}


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def is_waiting_for_the_database(pid: int) -> bool:
    # The shell forks for `$(...)` before it sets its trap: only the wait_for_db child proves the trap is set.
    for child in children_of(pid):
        try:
            if b"wait_for_db.py" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
        except FileNotFoundError:
            continue
    return False


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_it_waits_for_the_database_then_runs_the_command():
    # The embedded PostgreSQL of the test run is the database here (no DATABASE_URL).
    result = subprocess.run(
        [ENTRYPOINT, "python", "-c", "print('the command ran')"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "is up" in result.stderr
    assert result.stdout.strip() == "the command ran"


def test_the_command_replaces_the_shell_and_receives_sigterm(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, sys, time
            def stop(signum, frame):
                print("stopping cleanly on", signal.Signals(signum).name, flush=True)
                sys.exit(0)
            signal.signal(signal.SIGTERM, stop)
            print(os.getpid(), flush=True)
            while True:
                time.sleep(0.1)
            """
        )
    )
    process = subprocess.Popen(
        [ENTRYPOINT, "python", str(script)],
        env=environment(DATABASE_URL=UNREACHABLE, SKIP_WAIT_FOR_DB="1"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert int(process.stdout.readline()) == process.pid  # exec: no shell left in between
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "stopping cleanly on SIGTERM" in output


def test_sigterm_while_waiting_for_the_database_stops_the_wait():
    process = subprocess.Popen(
        [ENTRYPOINT, "python", "-c", "print('must not run')"],
        env=environment(DATABASE_URL=UNREACHABLE),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: is_waiting_for_the_database(process.pid), "the database wait to start")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 143
    assert "must not run" not in output


def test_wait_for_db_gives_up_with_a_clear_message():
    result = subprocess.run(
        [PYTHON, str(REPO / "docker" / "wait_for_db.py"), "--timeout", "1"],
        env=environment(DATABASE_URL=UNREACHABLE),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "the database at 127.0.0.1 did not answer within 1 s" in result.stderr
    assert "Traceback" not in result.stderr
