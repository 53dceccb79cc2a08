"""What the benchmarks share. A benchmark runs as a script (python benchmarks/<name>.py), whose folder is first on
sys.path: it imports this module as `common`. The project's own modules (cfg, ...) are imported once the benchmark
has put the repository's root on sys.path."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# A throttle rate no benchmark reaches.
LIFTED = "1000000/second"


@contextlib.contextmanager
def embedded_database(data_dir: Path, prefix: str) -> Iterator[str]:
    """A fresh database (named `prefix` and a random suffix) on the embedded PostgreSQL: its DATABASE_URL; dropped
    afterwards."""
    import psycopg
    from psycopg import sql

    from cfg.db.embedded import EmbeddedPostgres

    name = f"{prefix}_{secrets.token_hex(4)}"
    socket_dir = EmbeddedPostgres(data_dir / "postgres").ensure_running(name)
    try:
        yield f"postgres://postgres@/{name}?host={socket_dir}"
    finally:
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def production_project(data_dir: Path, prefix: str, **environ: str) -> Iterator[None]:
    """The project set up with production settings (DEBUG off, warnings-only logging) on a fresh, migrated database
    of the embedded PostgreSQL, plus `environ`; its connections closed and the database dropped afterwards. Variables
    of the caller's shell that would change the settings (DJANGO_*, DB_*, DATABASE*, and those `environ` sets a
    section of) are cleared first."""
    sys.path.insert(0, str(BASE_DIR))
    os.chdir(BASE_DIR)
    sections = tuple({key.split("__")[0] + "__" for key in environ if "__" in key})
    for key in [key for key in os.environ if key.startswith(("DJANGO_", "DB_", "DATABASE", *sections))]:
        del os.environ[key]
    with embedded_database(data_dir, prefix) as database_url:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(50),
            DATABASE_URL=database_url,
            DATA_DIR=str(data_dir),
            SITE_URL="https://127.0.0.1",
            SECURITY__ALLOWED_HOSTS="127.0.0.1",
            LOGGING__LEVEL="WARNING",
            LOGGING__DJANGO_LEVEL="WARNING",
            **environ,
        )
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        try:
            yield
        finally:
            connections.close_all()


HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get_status(port: int, path: str) -> int | None:
    """The status of GET `path` as the proxy would send it (HTTPS forwarded), or None when nothing answers."""
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        connection.request("GET", path, headers={"Host": HOST, "X-Forwarded-Proto": "https"})
        return connection.getresponse().status
    except OSError:
        return None


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds; reaped (pipes read) either way."""
    if process.poll() is None:
        process.terminate()
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@contextlib.contextmanager
def production_server(
    env: dict[str, str],
    port: int,
    workers: int,
    log: Path,
    *,
    application: str = "config.asgi:application",
    directory: Path = BASE_DIR,
    ready: tuple[str, int] = ("/healthz", 200),
) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn with uvicorn workers and docker/gunicorn.conf.py, as compose runs it, once the `ready` path answers
    its status; stopped (terminated, killed after 15 s) on the way out. Another project (a baseline) is served by
    the same configuration from its `directory`."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(BASE_DIR / "docker" / "gunicorn.conf.py"),
             "--workers", str(workers), "--bind", f"{HOST}:{port}", application],
            cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while get_status(port, ready[0]) != ready[1]:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the server did not come up:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        stop(process, timeout=15)
