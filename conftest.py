"""Test-wide fixtures. The database is the embedded PostgreSQL (pgvector), a test database on it.

The run keeps its temporary files in a directory of its own, TMPDIR (which subprocesses inherit), and that
directory must be empty when the run ends: a test or fixture that leaves something there fails the run,
rather than filling the system's temporary directory run after run. pytest's own tmp_path stays where it
is (pytest-of-<user>, the last three runs).
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from modules.email.testing import SmtpSink

RUN_PREFIX = "pytest-run-"
_run_tmp = pytest.StashKey[tuple[Path, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    system_tmp = Path(tempfile.gettempdir())
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(system_tmp))
    _remove_runs_of_dead_processes(system_tmp)
    directory = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=system_tmp))
    config.stash[_run_tmp] = (directory, os.environ.get("TMPDIR"))
    os.environ["TMPDIR"] = str(directory)
    tempfile.tempdir = str(directory)


# Fixtures on a Redis database of fixed number that their tests share (the tasks tests' 11, the support tests' 14).
SHARED_REDIS_FIXTURES = {"redis_client", "rearq", "redis_14"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (make test), some tests run in one worker, one after the other: the slow ones, which start
    servers or workers of their own and wait on their timing (two at once on a small machine would disturb it), and
    those on a shared Redis database, which one test may empty or scan while another uses it."""
    for item in items:
        if item.get_closest_marker("slow") or SHARED_REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("serial"))


def pytest_unconfigure(config: pytest.Config) -> None:
    directory, previous = config.stash[_run_tmp]
    tempfile.tempdir = None
    if previous is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = previous
    shutil.rmtree(directory, ignore_errors=True)


def _remove_runs_of_dead_processes(system_tmp: Path) -> None:
    """A run killed before its end (Ctrl-C twice, SIGKILL) could not remove its directory: the next run does."""
    for directory in system_tmp.glob(f"{RUN_PREFIX}*-*"):
        pid = directory.name.removeprefix(RUN_PREFIX).split("-")[0]
        try:
            if not pid.isdigit() or directory.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            continue


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_are_removed(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    directory, _ = pytestconfig.stash[_run_tmp]
    left = sorted(entry.name for entry in directory.iterdir())
    if left:
        pytest.fail(
            f"the test run left {left} in its temporary directory {directory}: the test or fixture that makes "
            "them must remove them (use tmp_path, or remove them in a finally)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> Iterator[None]:
    """The sign-in throttles count in their own cache (cfg.settings.cache.THROTTLE_CACHE): every test starts at 0."""
    from django.core.cache import caches

    from cfg.settings.cache import THROTTLE_CACHE

    caches[THROTTLE_CACHE].clear()
    yield
    caches[THROTTLE_CACHE].clear()


@pytest.fixture(autouse=True)
def _fresh_live_settings() -> None:
    """Live settings: each process keeps a copy for its requests (modules.live_settings.values). Every test starts
    from the defaults, as its database does, and reads none: query counts do not depend on the order of tests."""
    from modules.live_settings.testing import live_settings_reset

    live_settings_reset()


@pytest.fixture
def smtp(settings: Any) -> Iterator["SmtpSink"]:
    """The default mailer sends to a real SMTP server on loopback (modules.email.testing) that keeps what it takes."""
    from modules.email.testing import smtp_mailers, smtp_server

    with smtp_server() as (sink, port):
        settings.MAILERS = smtp_mailers(port)
        yield sink
