"""Wait until the default database accepts connections (the container entrypoint runs this first).

Exits 0 once connected, 1 with a clear message when the timeout passes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait in all (default 60)")
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.utils import OperationalError

    connection = connections[DEFAULT_DB_ALIAS]
    connection.settings_dict["OPTIONS"].setdefault("connect_timeout", CONNECT_TIMEOUT)
    where = connection.settings_dict.get("HOST") or "the local socket"
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            connection.ensure_connection()
        except OperationalError as error:
            connection.close()
            if time.monotonic() >= deadline:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                print(
                    f"wait_for_db: the database at {where} did not answer within {args.timeout:g} s ({reason})",
                    file=sys.stderr,
                )
                return 1
            time.sleep(1)
        else:
            connection.close()
            print(f"wait_for_db: the database at {where} is up", file=sys.stderr)
            return 0


if __name__ == "__main__":
    sys.exit(main())
