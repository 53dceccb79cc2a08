"""gunicorn with uvicorn workers (ASGI), as the web service runs it in Docker and in the stack test.

Command-line flags win over this file: `--bind 127.0.0.1:9000`, `--workers 4`.
"""

bind = "0.0.0.0:8000"
worker_class = "uvicorn_worker.UvicornWorker"
workers = 2
# Inside a container a proxy sets X-Forwarded-Proto; only the proxy can reach this port.
forwarded_allow_ips = "*"
timeout = 60
keepalive = 5
# SIGTERM: stop accepting, let running requests finish, within Docker's 10 s stop grace period.
graceful_timeout = 8
# Recycle workers now and then so that a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Heartbeat files in memory: a container's overlay filesystem can stall them.
worker_tmp_dir = "/dev/shm"  # noqa: S108
accesslog = "-"
errorlog = "-"
