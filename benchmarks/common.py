"""What the benchmarks share. A benchmark runs as a script (python benchmarks/<name>.py), whose folder is first on
sys.path: it imports this module as `common`. The project's own modules (cfg, ...) are imported once the benchmark
has put the repository's root on sys.path."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
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
