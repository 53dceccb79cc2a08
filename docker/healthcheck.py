"""The image's HEALTHCHECK: GET /healthz on the local gunicorn, with a Host header Django allows.

/healthz is exempt from the HTTPS redirect and does no I/O; the host comes from the project's own
configuration (the first of SECURITY__ALLOWED_HOSTS), so DisallowedHost never fails the probe.
"""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PORT = 8000


def probe_host() -> str:
    sys.path.insert(0, str(BASE_DIR))
    from config.config import config

    hosts = [host.lstrip(".") for host in config.security.allowed_hosts if host.lstrip(".")]
    return hosts[0] if hosts else "localhost"


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else PORT
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        connection.request("GET", "/healthz", headers={"Host": probe_host()})
        status = connection.getresponse().status
    except OSError as error:
        print(f"healthcheck: no answer on port {port} ({error})", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthcheck: /healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
