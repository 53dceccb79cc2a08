#!/bin/sh
# Container entrypoint: wait for the database, then become the given command.
#
# `exec` replaces this shell, so the command (gunicorn, rearq_worker, migrate) is the process that
# `docker stop` signals and it shuts down cleanly. While waiting, this shell is still PID 1, which
# ignores signals it does not trap: the trap passes SIGTERM/SIGINT on to the waiting child.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"

if [ "$#" -eq 0 ]; then
    set -- gunicorn --config "$here/gunicorn.conf.py" config.asgi:application
fi

if [ "${SKIP_WAIT_FOR_DB:-}" != "1" ]; then
    # The trap is set before the child starts, so a SIGTERM that arrives in between is not lost.
    waiter=""
    trap '[ -n "$waiter" ] && kill -TERM "$waiter" 2>/dev/null; [ -n "$waiter" ] && wait "$waiter" 2>/dev/null; exit 143' TERM INT
    python "$here/wait_for_db.py" &
    waiter=$!
    status=0
    wait "$waiter" || status=$?
    trap - TERM INT
    if [ "$status" -ne 0 ]; then
        exit "$status"
    fi
fi

exec "$@"
