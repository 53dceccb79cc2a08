"""gunicorn with uvicorn workers (ASGI), as the web service runs it in Docker and in the stack test.

Command-line flags win over this file: `--bind 127.0.0.1:9000`, `--workers 4`.
"""

import gc
import os
import signal
import sys
from typing import Any

bind = "0.0.0.0:8000"
worker_class = "uvicorn_worker.UvicornWorker"
workers = 2
# Trust forwarded headers from no address: uvicorn would otherwise rewrite the client address from
# X-Forwarded-For (and the scheme from X-Forwarded-Proto) for the peers listed here, and "*" meant any
# peer could forge them. Django decides both from the peer's address: SECURE_PROXY_SSL_HEADER
# (security.behind_proxy) and the trusted proxies of the security config. An empty string, not a
# missing setting: gunicorn's default is the FORWARDED_ALLOW_IPS variable, else 127.0.0.1,::1.
forwarded_allow_ips = ""
timeout = 60
keepalive = 5
# SIGTERM: stop accepting, let running requests finish, within Docker's 10 s stop grace period.
graceful_timeout = 8
# No recycling after N requests: under load it restarted every worker every few seconds (0.66 s of
# start-up each, and the keep-alive connections a restarting worker closes are dropped requests). A
# leak shows as growing memory; the container's memory limit bounds it. To recycle anyway, rarely:
# --max-requests 100000 --max-requests-jitter 10000.
max_requests = 0
# The application is imported once, by the master, before it forks the workers (its import ends with gc.freeze(),
# config/asgi.py), and so is its URLconf (on_starting, below). A worker then holds alone only what its requests add
# (~40 MB after load, against ~100 MB when each worker imported the app itself: benchmarks/load.py prints it), a
# worker that dies is replaced at once, and a bad configuration stops gunicorn with its one-line messages and exit
# status 1, where each worker used to fail in turn and be restarted, forever. New code needs a restart of gunicorn
# (a new container), not a HUP. The reloader (--reload: compose.yaml's development web service) restarts workers to
# load changed code, which forked from a preloaded master they would not: with it, each worker imports the app.
preload_app = "--reload" not in [*sys.argv, *os.environ.get("GUNICORN_CMD_ARGS", "").split()]
# Under ASGI each request runs its sync code in a thread of its own: persistent connections
# (DB_CONN_MAX_AGE) would leave one open connection per request. Workers use psycopg's pool instead,
# this many connections each unless the environment says otherwise (docs/deploy.md: sizing).
os.environ.setdefault("DB_POOL__MAX_SIZE", "4")
# Heartbeat files in memory: a container's overlay filesystem can stall them.
worker_tmp_dir = "/dev/shm"  # noqa: S108
accesslog = "-"
errorlog = "-"


def on_starting(server: Any) -> None:
    """The master, the application imported (preload_app): import its URLconf too, every view module that each worker
    would otherwise import for itself at its first request, so that the workers share it; then freeze it."""
    from django.apps import apps

    if not server.cfg.preload_app or not apps.ready:  # not a Django application (the tests' echo app)
        return
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018
    gc.freeze()


def worker_int(worker: Any) -> None:
    """gunicorn's reloader (--reload) calls this once it has seen a file change, then ends only its own thread: the
    uvicorn worker never looks at the flag it clears, and went on serving the old code. SIGTERM stops it as a normal
    shutdown does, and the master starts a new worker, which imports the changed code (nothing is preloaded then)."""
    if worker.cfg.reload:
        os.kill(worker.pid, signal.SIGTERM)
