"""Under load: the production web server, natively, driven by wrk; then two single-request costs.

    DATA_DIR=/tmp/bench-data .venv/bin/python benchmarks/load.py [--duration 60] [--connections 64]

What runs: gunicorn with uvicorn workers and docker/gunicorn.conf.py (--workers 3, as compose.prod.yaml's web),
DJANGO_ENV=production, on a fresh database of the embedded PostgreSQL given by URL (dropped afterwards), with an
SMTP sink on loopback for the sign-in codes. Throttles are lifted and self-registration is off: every request
comes from one address and one user, and what is measured is capacity, not the limits.

1. load: wrk at --connections clients for --duration seconds against /healthz (no I/O) and GET
   /api/accounts/me/ (a JWT minted for a user made here: the user's SELECT and the body). Per endpoint:
   req/s, p50, p99, errors (non-2xx answers + socket errors; goal 0), PostgreSQL connections in use (peak,
   sampled), and worker restarts.
2. worst-case request cost: POST /api/auth/otp/request/ with a 2.4 MB identifier; goal under 5 ms.
3. equal timing: medians of 30 code requests each for an existing, an unknown and an inactive account
   (self-registration off); goal: within 2 ms of each other.

wrk: `apt-get install wrk` (Debian, Ubuntu), `brew install wrk` (macOS). The benchmark is not run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import free_port
from common import production_server as gunicorn

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
LIFTED = "1000000/second"
WORST_CASE_IDENTIFIER = "a@" + "ü." * 800_000 + "com"
WORST_CASE_GOAL_MS = 5.0
EQUAL_TIMING_GOAL_MS = 2.0
EQUAL_TIMING_ROUNDS = 30
ACTIVE, INACTIVE = "bench-active@example.com", "bench-inactive@example.com"

# Per-thread counters of non-2xx answers, summed in done(); the summary as one JSON line.
WRK_SCRIPT = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, non2xx_total, errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""

SEED = """
import json
from rest_framework_simplejwt.tokens import RefreshToken
from apps.accounts.models import User
active = User.objects.create_user(email={active!r}, first_name="Bench")
User.objects.create_user(email={inactive!r}, is_active=False)
print(json.dumps({{"access": str(RefreshToken.for_user(active).access_token)}}))
"""


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        sys.exit(
            "wrk is not installed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk` (macOS); "
            "then run this again"
        )
    return found


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[tuple[str, str, str]]:
    """A fresh database on the embedded PostgreSQL: (its DATABASE_URL, socket dir, name); dropped afterwards."""
    import psycopg
    from psycopg import sql

    from cfg.db.embedded import EmbeddedPostgres

    name = f"load_bench_{secrets.token_hex(4)}"
    socket_dir = EmbeddedPostgres(data_dir / "postgres").ensure_running(name)
    try:
        yield f"postgres://postgres@/{name}?host={socket_dir}", socket_dir, name
    finally:
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def smtp_sink() -> Iterator[int]:
    """An SMTP server on loopback that accepts and drops every message (the codes of existing accounts)."""
    from aiosmtpd.controller import Controller

    class Drop:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 Message accepted"

    port = free_port()
    controller = Controller(Drop(), hostname=HOST, port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def server_environment(args: argparse.Namespace, database_url: str, smtp_port: int, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DB_", "DATABASE"))}
    env.update(
        PATH=f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        DATA_DIR=str(args.data_dir),
        SITE_URL=f"https://{HOST}:{port}",
        SECURITY__ALLOWED_HOSTS=HOST,
        EMAIL__HOST=HOST,
        EMAIL__PORT=str(smtp_port),
        EMAIL__DEFAULT_FROM="load-benchmark@example.com",
        ACCOUNTS__SELF_REGISTRATION="false",
        API__THROTTLE_ANON=LIFTED,
        API__THROTTLE_USER=LIFTED,
        ACCOUNTS__THROTTLE_OTP_IDENTIFIER=LIFTED,
        ACCOUNTS__THROTTLE_OTP_IDENTIFIER_TOTAL=LIFTED,
        ACCOUNTS__THROTTLE_OTP_IP=LIFTED,
        API__JWT_ACCESS_MINUTES=str(max(15, 3 * args.duration // 60 + 10)),
    )
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    if args.pool_size is not None:
        env["DB_POOL__MAX_SIZE"] = str(args.pool_size)
    return env


def manage(env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *arguments], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(arguments[:1])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def worker_boots(self) -> int:
        return self.log.read_text(errors="replace").count("Booting worker")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def production_server(env: dict[str, str], port: int, workers: int, logs: Path) -> Iterator[Server]:
    log = logs / "gunicorn.log"
    with gunicorn(env, port, workers, log) as process:
        yield Server(port, process, log)


def raw_request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "X-Forwarded-Proto: https", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def timed(port: int, request: bytes) -> tuple[int, float]:
    """(status, ms from the first byte sent to the status line received); the server may answer before it has
    read the whole body (a size limit), so a refused send still counts its answer."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        started = time.perf_counter()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        head = b""
        with contextlib.suppress(ConnectionResetError):
            while b"\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                head += chunk
        elapsed = (time.perf_counter() - started) * 1000
    parts = head.split(b" ", 2)
    return (int(parts[1]) if head.startswith(b"HTTP/") and len(parts) > 1 else 0), elapsed


def get_status(port: int, path: str) -> int:
    try:
        return timed(port, raw_request(port, "GET", path))[0]
    except OSError:
        return 0


# 1. load ---------------------------------------------------------------------------------------------------------


class ConnectionSampler:
    """Samples the connections PostgreSQL holds for the benchmark's database while wrk runs."""

    def __init__(self, socket_dir: str, name: str) -> None:
        self.socket_dir, self.name = socket_dir, name
        self.peak = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(host=self.socket_dir, user="postgres", dbname="postgres", autocommit=True) as db:
            while not self.stopping.wait(0.25):
                row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.name]).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)

    def __enter__(self) -> ConnectionSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()


def run_wrk(wrk: str, script: Path, args: argparse.Namespace, port: int, path: str, headers: dict[str, str]) -> Any:
    flags = [f"-t{min(args.threads, args.connections)}", f"-c{args.connections}", f"-d{args.duration}s"]
    flags += ["--timeout", "10s", "-s", str(script), "-H", f"Host: {HOST}", "-H", "X-Forwarded-Proto: https"]
    for name, value in headers.items():
        flags += ["-H", f"{name}: {value}"]
    result = subprocess.run(
        [wrk, *flags, f"http://{HOST}:{port}{path}"], capture_output=True, text=True, timeout=args.duration + 120
    )
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line.removeprefix("WRK_JSON "))
    sys.exit(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")


def load_section(wrk: str, args: argparse.Namespace, server: Server, database: tuple[str, str], token: str) -> None:
    print(f"\n1. load: {args.connections} connections for {args.duration} s per endpoint ({args.threads} wrk threads)")
    print(f"   {'endpoint':<22} {'req/s':>9} {'p50':>9} {'p99':>9} {'errors':>7}  detail")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(WRK_SCRIPT)
        script = Path(handle.name)
    try:
        for label, path, headers in (
            ("GET /healthz", "/healthz", {}),
            ("GET /api/accounts/me/", "/api/accounts/me/", {"Authorization": f"Bearer {token}"}),
        ):
            boots = server.worker_boots()
            with ConnectionSampler(*database) as sampler:
                found = run_wrk(wrk, script, args, server.port, path, headers)
            sockets = found["connect"] + found["read"] + found["write"] + found["timeout"]
            errors = found["non2xx"] + sockets
            rate = found["requests"] / (found["duration_us"] / 1e6)
            detail = (
                f"non-2xx {found['non2xx']}, socket {sockets}; max {found['max_us'] / 1000:.0f} ms; "
                f"PostgreSQL connections peak {sampler.peak}; worker restarts {server.worker_boots() - boots}"
            )
            print(
                f"   {label:<22} {rate:>9,.0f} {found['p50_us'] / 1000:>7.2f}ms {found['p99_us'] / 1000:>7.2f}ms "
                f"{errors:>7}  {detail}"
            )
            print(f"   {'':<22} goal 0 errors: {'met' if errors == 0 else 'NOT met'}")
    finally:
        script.unlink()


# 2. worst-case request cost --------------------------------------------------------------------------------------


def otp_request(identifier: str) -> bytes:
    return json.dumps({"identifier": identifier, "channel": "email"}, ensure_ascii=False).encode()


def worst_case_section(port: int, runs: int = 5) -> None:
    body = otp_request(WORST_CASE_IDENTIFIER)
    request = raw_request(port, "POST", "/api/auth/otp/request/", body)
    results = [timed(port, request) for _ in range(runs)]
    times = [elapsed for _, elapsed in results]
    statuses = sorted({status for status, _ in results})
    median = statistics.median(times)
    print(f"\n2. worst-case request cost: POST /api/auth/otp/request/ with a {len(body) / 1e6:.1f} MB identifier")
    print(f"   median {median:.2f} ms, max {max(times):.2f} ms over {runs} requests; status {statuses}")
    print(f"   goal under {WORST_CASE_GOAL_MS:g} ms: {'met' if median < WORST_CASE_GOAL_MS else 'NOT met'}")


# 3. equal timing -------------------------------------------------------------------------------------------------


def equal_timing_section(port: int, rounds: int = EQUAL_TIMING_ROUNDS) -> None:
    kinds: dict[str, str] = {
        "existing": ACTIVE,
        "unknown": f"nobody-{secrets.token_hex(4)}@example.com",
        "inactive": INACTIVE,
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    statuses: dict[str, set[int]] = {kind: set() for kind in kinds}
    order = list(kinds)
    for index in range(rounds):
        # Interleaved, each round starting elsewhere: drift over the run falls on every kind alike.
        for kind in order[index % 3 :] + order[: index % 3]:
            status, elapsed = timed(port, raw_request(port, "POST", "/api/auth/otp/request/", otp_request(kinds[kind])))
            times[kind].append(elapsed)
            statuses[kind].add(status)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    spread = max(medians.values()) - min(medians.values())
    print(f"\n3. equal timing: medians of {rounds} code requests per account kind (self-registration off)")
    for kind, median in medians.items():
        print(f"   {kind:<9} {median:>7.2f} ms  status {sorted(statuses[kind])}")
    verdict = "met" if spread <= EQUAL_TIMING_GOAL_MS else "NOT met"
    print(f"   spread {spread:.2f} ms; goal within {EQUAL_TIMING_GOAL_MS:g} ms: {verdict}")


SECTIONS: dict[str, Callable[..., None]] = {
    "load": load_section,
    "worst-case": worst_case_section,
    "equal-timing": equal_timing_section,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load per endpoint (default 60)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3, as compose.prod.yaml)")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma separated (default {','.join(SECTIONS)})"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        help="DB_POOL__MAX_SIZE per worker (default: gunicorn.conf.py's 4); 0: persistent connections, as before",
    )
    parser.add_argument("--redis-url", default="", help="Redis for the cache and throttles (default: none)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(BASE_DIR / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    args = parser.parse_args()
    args.data_dir = Path(args.data_dir).resolve()
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    wrk = require_wrk() if "load" in sections else ""
    sys.path.insert(0, str(BASE_DIR))

    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="load-bench-") as logs,
        embedded_database(args.data_dir) as (database_url, socket_dir, name),
        smtp_sink() as smtp_port,
    ):
        env = server_environment(args, database_url, smtp_port, port)
        manage(env, "migrate", "--noinput")
        seed = SEED.format(active=ACTIVE, inactive=INACTIVE)
        token = json.loads(manage(env, "shell", "--no-imports", "-c", seed).strip().splitlines()[-1])["access"]
        with production_server(env, port, args.workers, Path(logs)) as server:
            print(
                f"production server: {args.workers} gunicorn + uvicorn workers (docker/gunicorn.conf.py) on "
                f"{HOST}:{port}; embedded PostgreSQL database {name}; DB_POOL__MAX_SIZE "
                f"{env.get('DB_POOL__MAX_SIZE', '4 (gunicorn.conf.py)')}; {os.cpu_count()} CPUs shared with the client"
            )
            if "load" in sections:
                load_section(wrk, args, server, (socket_dir, name), token)
            if "worst-case" in sections:
                worst_case_section(port)
            if "equal-timing" in sections:
                equal_timing_section(port)
            if server.process.poll() is not None:
                print(f"the server exited during the run:\n{server.tail()}")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
