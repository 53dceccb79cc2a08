"""The embedded PostgreSQL survives hard kills (issue 10, item 8).

Processes that start the server, query it and exit (the last one stops it) are killed with SIGKILL at random
moments, several at once, the first ones while the cluster is being made. Afterwards the data directory must
still work: `manage.py check`, a query, a valid pid list, and the server stopped once its last user exits.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from cfg.db.embedded import EmbeddedPostgres, read_pid_list, read_postmaster, write_atomically

REPO = Path(__file__).resolve().parents[1]
KILLS = 50
# The processes that start, query and stop the server: small, so most of a lifetime is the server's.
QUERY = """
import sys

import psycopg

from cfg.db.embedded import EmbeddedPostgres

socket_dir = EmbeddedPostgres(sys.argv[1]).ensure_running("kills")
with psycopg.connect(host=socket_dir, user="postgres", dbname="kills") as connection:
    print(connection.execute("SELECT 41 + 1").fetchone()[0])
"""
DJANGO_QUERY = """
import django

django.setup()
from django.db import connection

with connection.cursor() as cursor:
    cursor.execute("SELECT 41 + 1")
    print(cursor.fetchone()[0])
"""
DAMAGED = ["", "[12, 3", "\x00\xff garbage", "null", '{"pids": [1]}', '[1, "2"]', "[true]", "[-4]", "[1.5]"]


def needs_the_embedded_postgresql() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "cfg.db.embedded_backend":
        pytest.skip("needs the embedded PostgreSQL (DATABASE_URL is set)")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under tmp_path: as root the server runs as a user of its own, and every pytest session that starts
    # makes pytest's root directory private again. This one is in the run's own TMPDIR, removed here.
    needs_the_embedded_postgresql()
    directory = Path(tempfile.mkdtemp(prefix="pgkill-"))
    try:
        yield directory
    finally:
        stop_leftover_server(directory / "postgres")
        shutil.rmtree(directory)


def stop_leftover_server(pgdata: Path) -> None:
    server = EmbeddedPostgres(pgdata)
    if (pgdata / "PG_VERSION").exists() and server._cluster_pids():
        # This process becomes its last user: releasing it stops it.
        server.ensure_running()
        server.stop()


def start(program: str, pgdata: Path) -> subprocess.Popen[str]:
    """`python -c program pgdata` on the data directory `pgdata`."""
    return python(pgdata, "-c", program, str(pgdata))


def python(pgdata: Path, *arguments: str) -> subprocess.Popen[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DB_"))}
    environment.pop("DATABASE_URL", None)
    environment.update(DJANGO_ENV="test", DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(pgdata.parent))
    return subprocess.Popen(
        [sys.executable, *arguments],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(program: str, pgdata: Path) -> str:
    process = start(program, pgdata)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    return output


def run_and_kill(rng: random.Random, pgdata: Path, count: int, longest: float) -> list[str]:
    """Start `count` processes at once and kill each after a random delay: when each live one was killed."""
    began = time.monotonic()
    processes = [(start(QUERY, pgdata), rng.uniform(0, longest)) for _ in range(count)]
    for process, delay in sorted(processes, key=lambda entry: entry[1]):
        time.sleep(max(0.0, began + delay - time.monotonic()))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    moments = []
    for process, _ in processes:
        output, _ = process.communicate(timeout=180)
        # A process that escaped its kill did its whole work.
        assert process.returncode in (0, -signal.SIGKILL), output
        if process.returncode == -signal.SIGKILL:
            moments.append("while stopping" if output.split() == ["42"] else "while starting")
    return moments


def kill_during_initdb(rng: random.Random, pgdata: Path) -> list[str]:
    """Start one or two processes on a data directory with no cluster yet; kill them while initdb runs."""
    scratch = set(pgdata.parent.glob("postgres.init-*"))
    processes = [start(QUERY, pgdata) for _ in range(rng.choice([1, 2]))]
    deadline = time.monotonic() + 60
    while not set(pgdata.parent.glob("postgres.init-*")) - scratch and time.monotonic() < deadline:
        if (pgdata / "PG_VERSION").exists() or all(process.poll() is not None for process in processes):
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.3))
    for process in processes:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=180)
    made = (pgdata / "PG_VERSION").exists()
    return ["while starting" if made else "while making the cluster"] * len(processes)


def assert_usable(pgdata: Path) -> None:
    assert run(QUERY, pgdata).split() == ["42"]
    check = python(pgdata, "manage.py", "check", "--database", "default")
    output, _ = check.communicate(timeout=180)
    assert check.returncode == 0 and "Traceback" not in output, output
    assert run(DJANGO_QUERY, pgdata).split() == ["42"]
    assert isinstance(json.loads((pgdata / ".handle_pids.json").read_text()), list)
    # The last user stopped the server on its way out, and nothing of a killed process is left over.
    assert read_pid_list(pgdata / ".handle_pids.json") == []
    assert not EmbeddedPostgres(pgdata)._cluster_pids()
    assert not list(pgdata.parent.glob("postgres.init-*"))
    assert not list(pgdata.glob(".handle_pids.json.*"))


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_the_data_directory_usable(data_dir):
    pgdata = data_dir / "postgres"
    seed = int(os.environ.get("KILL_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    began = time.monotonic()
    moments = []
    # While the first processes make the cluster, then while processes start the server, use it, stop it, or
    # wait for one another.
    while len(moments) < 3 and not (pgdata / "PG_VERSION").exists():
        moments += kill_during_initdb(rng, pgdata)
    run(QUERY, pgdata)
    measured = time.monotonic()
    run(QUERY, pgdata)
    lifetime = time.monotonic() - measured
    while len(moments) < KILLS:
        assert time.monotonic() - began < 240, f"only {len(moments)} kills in 240 s (seed {seed})"
        moments += run_and_kill(rng, pgdata, rng.choice([1, 1, 2, 3, 4]), longest=lifetime)
    assert_usable(pgdata)
    print(
        f"{len(moments)} kills in {time.monotonic() - began:.1f} s (a lifetime of {lifetime:.2f} s, seed {seed}):",
        dict(Counter(moments)),
    )


@pytest.mark.slow
def test_processes_starting_together_share_one_server(data_dir):
    pgdata = data_dir / "postgres"
    processes = [start(QUERY, pgdata) for _ in range(4)]
    for process in processes:
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0 and output.split() == ["42"], output
    assert_usable(pgdata)


@pytest.mark.slow
def test_a_damaged_pid_list_is_rebuilt_not_fatal(data_dir):
    pgdata = data_dir / "postgres"
    run(QUERY, pgdata)
    for text in DAMAGED:
        (pgdata / ".handle_pids.json").write_text(text)
        assert run(QUERY, pgdata).split()[-1] == "42", text
        assert json.loads((pgdata / ".handle_pids.json").read_text()) == [], text


@pytest.mark.slow
def test_a_cluster_whose_initdb_was_killed_in_place_is_moved_aside_and_made_again(data_dir):
    pgdata = data_dir / "postgres"
    (pgdata / "base").mkdir(parents=True)
    output = run(QUERY, pgdata)
    assert "had no PG_VERSION" in output and output.split()[-1] == "42"
    [aside] = data_dir.glob("postgres.unfinished-*")
    assert [entry.name for entry in aside.iterdir()] == ["base"]


@pytest.mark.slow
def test_a_stale_postmaster_pid_is_ignored(data_dir):
    pgdata = data_dir / "postgres"
    run(QUERY, pgdata)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    # A killed server's file: its pid dead or now another process's (this one's), or half-written.
    for pid in (int(dead.stdout), os.getpid()):
        lines = [str(pid), str(pgdata), "1700000000", "5432", str(pgdata), "", "  0  0", "ready   "]
        (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
        assert run(QUERY, pgdata).split() == ["42"]
    for text in ("", f"{dead.stdout.strip()}\n{pgdata}\n"):
        (pgdata / "postmaster.pid").write_text(text)
        assert run(QUERY, pgdata).split() == ["42"]
    assert_usable(pgdata)


@pytest.mark.slow
def test_a_server_left_without_users_is_reused_then_stopped(data_dir):
    pgdata = data_dir / "postgres"
    holder = start(QUERY + "\nprint('ready', flush=True)\nimport time\ntime.sleep(600)\n", pgdata)
    assert holder.stdout is not None
    assert holder.stdout.readline().split() == ["42"]
    assert holder.stdout.readline().split() == ["ready"]
    holder.kill()
    holder.communicate(timeout=30)
    assert EmbeddedPostgres(pgdata).is_running()
    starts = (pgdata / "log").read_text().count("ready to accept connections")
    assert run(QUERY, pgdata).split() == ["42"]
    # The same server served the next process, which stopped it on its way out.
    assert (pgdata / "log").read_text().count("ready to accept connections") == starts
    assert read_postmaster(pgdata) is None and not EmbeddedPostgres(pgdata)._cluster_pids()


@pytest.mark.parametrize("text", DAMAGED)
def test_read_pid_list_reads_a_damaged_list_as_empty(tmp_path, caplog, text):
    path = tmp_path / ".handle_pids.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="cfg.db.embedded"):
        assert read_pid_list(path) == []
    assert "was damaged" in caplog.text


def test_read_pid_list_reads_a_missing_list_as_empty_and_a_good_one_as_is(tmp_path):
    path = tmp_path / ".handle_pids.json"
    assert read_pid_list(path) == []
    path.write_text("[12, 34]")
    assert read_pid_list(path) == [12, 34]


def test_the_pid_list_is_rebuilt_from_the_processes_alive(tmp_path):
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    server = EmbeddedPostgres(pgdata)
    for text in DAMAGED:
        server.pids_path.write_text(text)
        server._update_pid_list(add=os.getpid())
        assert json.loads(server.pids_path.read_text()) == [os.getpid()]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    server.pids_path.write_text(json.dumps([int(dead.stdout), os.getppid()]))
    server._update_pid_list(add=os.getpid())
    assert json.loads(server.pids_path.read_text()) == [os.getppid(), os.getpid()]
    assert sorted(path.name for path in pgdata.iterdir()) == [".handle_pids.json"]


def test_a_failed_write_leaves_the_old_list_and_no_scratch_file(tmp_path, monkeypatch):
    path = tmp_path / ".handle_pids.json"
    write_atomically(path, "[1]")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, "[1, 2]")
    assert path.read_text() == "[1]"
    assert [entry.name for entry in tmp_path.iterdir()] == [".handle_pids.json"]
