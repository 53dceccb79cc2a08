"""What the benchmarks share. A benchmark runs as a script (python benchmarks/<name>.py), whose folder is first on
sys.path: it imports this module as `common`. The project's own modules (cfg, ...) are imported once the benchmark
has put the repository's root on sys.path."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path


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
